//! The `bulletin` binary: parse the arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bulletin::quiet_on_closed_pipe();
    let cli = bulletin::cli::Cli::parse();
    match bulletin::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) if bulletin::is_closed_pipe(&err) => ExitCode::from(141),
        Err(err) if err.downcast_ref::<bulletin::UsageError>().is_some() => {
            bulletin::commands::paint::say(&format!("error: {err}"));
            ExitCode::from(2)
        }
        Err(err) => {
            bulletin::commands::paint::say(&bulletin::error_line(&err));
            ExitCode::FAILURE
        }
    }
}
