//! The `bulletin` binary: parse the arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bulletin::cli::Cli::parse();
    match bulletin::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("{}", bulletin::error_line(&err));
            ExitCode::FAILURE
        }
    }
}
