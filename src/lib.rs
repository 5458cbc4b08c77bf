//! bulletin: render a newsletter issue and send it to a subscriber list.
//!
//! One folder a stage of the pipeline, each using only those before it
//! (ARCHITECTURE.md): `input` reads and checks the config and the issue,
//! `audience` keeps the subscriber list, `compose` turns an issue into one
//! reader's signed message, `deliver` plans, sends and logs, and
//! `commands` holds one file per subcommand.

pub mod audience;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod deliver;
pub mod inbound;
pub mod input;
pub mod web;

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
    // Commands that read no config refuse --config rather than ignore it.
    let configless = match &cli.command {
        Command::Init(_) => Some("init (it writes DIR/config.toml)"),
        Command::Completions(_) => Some("completions"),
        Command::Man => Some("man"),
        _ => None,
    };
    if let (Some(what), Some(_)) = (configless, &cli.config) {
        return Err(UsageError(format!("--config does nothing for {what}; leave it out")).into());
    }
    let config = cli
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("config.toml"));
    let config = config.as_path();
    match cli.command {
        Command::Check(args) => commands::check::run(config, &args),
        Command::Send(args) if args.dry_run => commands::preview::run(config, &args),
        Command::Send(args) => commands::send::run(config, &args),
        Command::Draft(args) => commands::draft::run(config, &args),
        Command::Status(args) => commands::status::run(config, &args),
        Command::Subscribe(args) => commands::subscribe::run(config, &args),
        Command::Unsubscribe(args) => commands::subscribe::unsubscribe(config, &args),
        Command::List(args) => commands::list::run(config, &args),
        Command::Serve(args) => commands::serve::run(config, &args),
        Command::Bounces(args) => commands::bounces::run(config, &args),
        Command::Archive(args) => commands::archive::run(config, &args),
        Command::Init(args) => commands::init::run(&args.dir),
        Command::Completions(args) => commands::docs::completions(args.shell),
        Command::Man => commands::docs::man(),
    }
}

/// Output piped into a reader that stops early (`bulletin list --all |
/// head`) ends the program quietly, as `git` and `cat` do, with the
/// status a shell gives a process ended by SIGPIPE (141), rather than a
/// panic and a stack trace. (Rust ignores SIGPIPE, so a write to a
/// closed pipe is an error, which `println!` turns into a panic.)
pub fn quiet_on_closed_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        previous(info);
    }));
}

/// Whether `err` is a write to a pipe whose reader went away: the
/// program then ends quietly with 141, as `quiet_on_closed_pipe` says.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A command line that asks for something that cannot be: exit 2, as
/// clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `n` with its noun, singular or plural: "1 issue", "2 issues".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one line (or, for input problems, one line each) printed for an error.
pub fn error_line(err: &anyhow::Error) -> String {
    if let Some(d) = err.downcast_ref::<input::diagnostic::Diagnostics>() {
        return d.to_string();
    }
    if let Some(d) = err.downcast_ref::<input::diagnostic::Diagnostic>() {
        return d.to_string();
    }
    format!("error: {err:#}")
}

/// The clock a run keeps time by (delivery log timestamps, relays'
/// quotas, `send --at`): the system's wall clock, so a wait follows a
/// clock put right or a machine that slept. With `SOURCE_DATE_EPOCH` the
/// run starts at that time and moves on as the wall clock does.
pub fn clock() -> SystemTime {
    static START: std::sync::OnceLock<Option<(SystemTime, SystemTime)>> =
        std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        std::env::var_os("SOURCE_DATE_EPOCH")?;
        Some((now().ok()?, SystemTime::now()))
    });
    let wall = SystemTime::now();
    match start {
        Some((epoch, began)) => *epoch + wall.duration_since(*began).unwrap_or_default(),
        None => wall,
    }
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
