//! bulletin: render a newsletter issue and send it to a subscriber list.
//!
//! The pipeline, one module a stage: `config` and `content` read and check
//! the inputs, `render` turns an issue into HTML and text, `message` adds
//! one reader's headers, `subscribers` and `plan` decide who is due, and
//! `commands` holds one file per subcommand.

pub mod cli;
pub mod commands;
pub mod compliance;
pub mod config;
pub mod content;
pub mod delivery;
pub mod diag;
pub mod dkim;
pub mod domain;
pub mod journal;
pub mod list_file;
pub mod markdown;
pub mod message;
pub mod plan;
pub mod render;
pub mod source;
pub mod subscribers;
pub mod unsubscribe;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cli::{Cli, Command};

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// It finished, but something needs the editor's attention; already reported.
    Problems,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Problems => ExitCode::FAILURE,
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Check(args) => commands::check::run(&cli.config, &args),
        Command::Send(args) if args.dry_run => commands::preview::run(&cli.config, &args),
        Command::Send(args) => commands::send::run(&cli.config, &args),
        Command::Status(args) => commands::status::run(&cli.config, &args),
        Command::Subscribe(args) => commands::subscribe::run(&cli.config, &args),
        Command::Unsubscribe(args) => commands::subscribe::unsubscribe(&cli.config, &args),
        Command::List(args) => commands::subscribe::list(&cli.config, &args),
    }
}

/// The one line (or, for input problems, one line each) printed for an error.
pub fn error_line(err: &anyhow::Error) -> String {
    if let Some(d) = err.downcast_ref::<diag::Diagnostics>() {
        return d.to_string();
    }
    if let Some(d) = err.downcast_ref::<diag::Diagnostic>() {
        return d.to_string();
    }
    format!("error: {err:#}")
}

/// The time stamped on messages: now, or `SOURCE_DATE_EPOCH` (seconds since
/// 1970) when set, for reproducible previews and tests.
pub fn now() -> anyhow::Result<SystemTime> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: u64 = s.trim().parse().map_err(|_| {
                anyhow::anyhow!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds")
            })?;
            Ok(UNIX_EPOCH + Duration::from_secs(secs))
        }
        Err(_) => Ok(SystemTime::now()),
    }
}
