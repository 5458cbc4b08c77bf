//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bulletin",
    version,
    about = "Render a newsletter issue written in TOML and send it to a subscriber list",
    after_help = "Examples:\n  bulletin check --issue issues/2022-08-01.toml\n  bulletin send --issue issues/2022-08-01.toml --dry-run --out preview"
)]
pub struct Cli {
    /// The newsletter's config file; paths in it are relative to its folder
    /// [default: config.toml]. Not for init, completions and man, which
    /// read no config.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, an issue and the subscriber list; print every problem.
    #[command(
        after_help = "Prints each problem as `path:line: message` and exits 1 if there is any.\n\nExample:\n  bulletin check --issue issues/2022-08-01.toml"
    )]
    Check(CheckArgs),
    /// Send an issue to every subscriber (with --dry-run: write what would be sent).
    #[command(
        after_help = "Every attempt is recorded in the delivery log (default logs/<issue>.csv beside the config);\nrunning the same command again resumes where the last run stopped.\n\nExamples:\n  bulletin send --issue issues/2022-08-01.toml --dry-run --out preview\n  bulletin send --issue issues/2022-08-01.toml --to editor@example.org\n  BULLETIN_SMTP_PASSWORD=... bulletin send --issue issues/2022-08-01.toml --yes"
    )]
    Send(SendArgs),
    /// Write an issue from the entries of a site's feed not drafted before.
    #[command(
        after_help = "Each entry becomes a story; the entries taken are recorded in feed-state.json\nbeside the config, so the next run takes only newer ones. Exits 0 with\n\"nothing new\" and writes nothing when there are none. [feed] in the config sets\nthe subject, max_items and a default url.\n\nExamples:\n  bulletin draft --from-feed https://example.org/feed.xml\n  bulletin draft --from-feed https://example.org/feed.xml --send --yes"
    )]
    Draft(DraftArgs),
    /// Add a reader to the list, or import many from a file.
    #[command(
        after_help = "Examples:\n  bulletin subscribe ann@example.org --name \"Ann Lee\"\n  bulletin subscribe --from signups.csv\n\nAn import takes a CSV with an `email` column (and `name`), a Mailchimp export\n(Email Address, First Name, Last Name), or one address per line. Readers who\nunsubscribed are never re-subscribed by an import, only by `subscribe EMAIL`."
    )]
    Subscribe(SubscribeArgs),
    /// Mark a reader unsubscribed (the row stays, as the record).
    #[command(
        after_help = "Examples:\n  bulletin unsubscribe ann@example.org\n  bulletin unsubscribe --token <token from an unsubscribe link>"
    )]
    Unsubscribe(UnsubscribeArgs),
    /// Count the list's readers by status (and show them with --all).
    #[command(alias = "subscribers", after_help = "Example:\n  bulletin list --all")]
    List(ListArgs),
    /// Summarise an issue's delivery log without sending anything.
    #[command(
        after_help = "Examples:\n  bulletin status\n  bulletin status --issue issues/2022-08-01.toml\n  bulletin status --json"
    )]
    Status(StatusArgs),
    /// Answer one-click unsubscribes and confirm web sign-ups (an HTTP server).
    #[command(
        after_help = "Needs [serve] (public_url), [unsubscribe] with its secret in the environment,\nand [smtp] for confirmation mail. Put it behind a reverse proxy that terminates TLS.\n\nExample:\n  BULLETIN_UNSUBSCRIBE_SECRET=... bulletin serve --listen 127.0.0.1:8025"
    )]
    Serve(ServeArgs),
    /// Read the return mailbox: bounces, complaints and mailed unsubscribes.
    #[command(
        after_help = "Reads a Maildir (new/ and cur/) or an mbox file. Each message it uses is marked\ndone (Maildir: moved to cur/ with the Seen flag; mbox: its id kept in FILE.bulletin-done);\nanything else is left exactly as it was. Running it twice changes nothing the second time.\n\nExamples:\n  bulletin bounces --maildir /var/mail/vhosts/example.org/bounces\n  bulletin bounces --mbox bounces.mbox --dry-run"
    )]
    Bounces(BouncesArgs),
    /// Write the web archive: a page for every issue sent, an index and an Atom feed.
    #[command(
        after_help = "Needs [archive] (its url; with [serve], an empty [archive] serves it under\n{public_url}/archive). Issues are published once their delivery log has a sent row;\n--issue publishes one before or without a send.\n\nExamples:\n  bulletin archive\n  bulletin archive --out site/archive --issue issues/2022-08-01.toml"
    )]
    Archive(ArchiveArgs),
    /// Write a starter set-up into DIR: config.toml, today's issue, an empty list.
    #[command(
        after_help = "Refuses to write over any file that is already there.\n\nExample:\n  bulletin init my-newsletter"
    )]
    Init(InitArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  bulletin completions bash > ~/.local/share/bash-completion/completions/bulletin\n  bulletin completions zsh > ~/.zfunc/_bulletin\n  bulletin completions fish > ~/.config/fish/completions/bulletin.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff).
    #[command(after_help = "Example:\n  bulletin man > ~/.local/share/man/man1/bulletin.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on [default: [serve] listen, or 127.0.0.1:8025].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The folder to write (default: archive/ beside the config).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Publish this issue too, sent or not (repeatable).
    #[arg(long, value_name = "FILE")]
    pub issue: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BouncesArgs {
    /// A Maildir to read [default: [bounces] imap, over IMAP].
    #[arg(long, value_name = "DIR", conflicts_with = "mbox")]
    pub maildir: Option<PathBuf>,

    /// An mbox file to read (it is never changed).
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<PathBuf>,

    /// Say what would change; write nothing, mark nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete the messages used instead of marking them (Maildir).
    #[arg(long, conflicts_with = "dry_run")]
    pub delete_processed: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to set up (made if missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The issue file (TOML).
    #[arg(long, value_name = "FILE")]
    pub issue: PathBuf,

    /// Treat the pre-send warnings (unsubscribe, DKIM, postal address, size) as errors.
    #[arg(long)]
    pub strict: bool,

    /// Print the findings as one JSON object (ok, errors, warnings,
    /// summary), for scripts.
    #[arg(long)]
    pub json: bool,

    /// Also check the sender's DNS: SPF, the DKIM key, DMARC and its
    /// alignment, the bounce domain's MX.
    #[arg(long)]
    pub dns: bool,

    /// With --dns: ask this DNS server (IP:PORT) instead of the system's.
    #[arg(long, value_name = "ADDR", requires = "dns")]
    pub resolver: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The issue file (TOML).
    #[arg(long, value_name = "FILE")]
    pub issue: PathBuf,

    /// Do everything but talk SMTP: render every message, report, send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: write each message as .eml, plus preview.html and
    /// preview.txt, into this folder (replacing an earlier preview there).
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    pub out: Option<PathBuf>,

    /// Send without asking (required when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Send to the first N readers still due, then stop.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Send one test copy to ADDRESS instead; the list and log are untouched.
    #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["dry_run", "limit"])]
    pub to: Option<String>,

    /// The delivery log [default: logs/<issue file stem>.csv beside the config].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,

    /// Resume even though the issue changed since the log's last run.
    #[arg(long)]
    pub force: bool,

    /// Also resend to readers whose message may or may not have arrived.
    #[arg(long)]
    pub resend_unknown: bool,

    /// Also send again to readers whose last delivery failed (after fixing
    /// what made the server refuse them); the log keeps the history.
    #[arg(long)]
    pub retry_failed: bool,

    /// Refuse to send while the pre-send check has any warning.
    #[arg(long)]
    pub strict: bool,

    /// When every relay's daily limit is used, keep running and go on as
    /// room returns (rather than end with the rest still due).
    #[arg(long, conflicts_with_all = ["dry_run", "to"])]
    pub wait: bool,

    /// Print the final summary as one JSON object on stdout (and nothing
    /// else there), for scripts; needs --yes.
    #[arg(long, requires = "yes", conflicts_with_all = ["dry_run", "to"])]
    pub json: bool,

    /// Wait, then send at TIME: RFC 3339 with its offset
    /// (2026-12-09T08:00:00+01:00), or a local time and an IANA zone
    /// ("2026-12-09 08:00 Europe/Berlin"; the zone defaults to
    /// [newsletter] timezone). With --local: "08:00" or "2026-12-09 08:00",
    /// in each reader's zone.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["dry_run", "to"])]
    pub at: Option<String>,

    /// With --at: a TIME already past is still sent if it passed less than
    /// this long ago (90s, 10m, 1h), as after a restart; later, refused.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration, requires = "at")]
    pub late: std::time::Duration,

    /// With --at: deliver at TIME in each reader's `timezone` column (else
    /// [newsletter] timezone), zone by zone, in one run that waits between
    /// the waves.
    #[arg(long, requires = "at", conflicts_with_all = ["json", "limit"])]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct DraftArgs {
    /// The site's feed (RSS 2.0, Atom or JSON Feed): an http(s) URL or a
    /// file [default: [feed] url in the config].
    #[arg(long, value_name = "URL|FILE")]
    pub from_feed: Option<String>,

    /// Where to write the issue [default: issues/<today>.toml beside the config].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Check the draft and send it (asks first; --yes for cron).
    #[arg(long)]
    pub send: bool,

    /// With --send: send without asking.
    #[arg(long, short = 'y', requires = "send")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The issue file (TOML) [default: the issue sent last, by the logs in
    /// logs/ and its file in the issues folder].
    #[arg(long, value_name = "FILE")]
    pub issue: Option<PathBuf>,

    /// The delivery log [default: logs/<issue file stem>.csv beside the config].
    #[arg(long, value_name = "PATH", requires = "issue")]
    pub log: Option<PathBuf>,

    /// Print the same figures as one JSON object, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The address to add.
    #[arg(value_name = "EMAIL", required_unless_present = "from")]
    pub email: Option<String>,

    /// The reader's name.
    #[arg(long, requires = "email")]
    pub name: Option<String>,

    /// A tag to add to the reader (repeatable), for issues with an [audience].
    #[arg(long = "tag", value_name = "TAG", requires = "email")]
    pub tags: Vec<String>,

    /// Import every address in FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with = "email")]
    pub from: Option<PathBuf>,

    /// With --from: import the valid rows even if some are invalid.
    #[arg(long, requires = "from")]
    pub skip_invalid: bool,
}

#[derive(Debug, Args)]
pub struct UnsubscribeArgs {
    /// The address to unsubscribe.
    #[arg(value_name = "EMAIL", required_unless_present = "token")]
    pub email: Option<String>,

    /// The token from a reader's unsubscribe link.
    #[arg(long, conflicts_with = "email")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show every reader as they stand: email, name, status, tags, since.
    #[arg(long, conflicts_with = "compact")]
    pub all: bool,

    /// Only readers with this status (repeatable): subscribed, pending,
    /// unsubscribed, bounced, complained, held.
    #[arg(
        long,
        value_name = "STATUS",
        conflicts_with = "compact",
        value_parser = ["subscribed", "pending", "unsubscribed", "bounced", "complained", "held"]
    )]
    pub status: Vec<String>,

    /// Only readers with this tag (repeatable: every one of them).
    #[arg(long, value_name = "TAG", conflicts_with = "compact")]
    pub tag: Vec<String>,

    /// Every row of one reader, oldest first.
    #[arg(long, value_name = "EMAIL", conflicts_with_all = ["compact", "all", "json", "status", "tag"])]
    pub history: Option<String>,

    /// The readers as a JSON array (with --status and --tag), for scripts.
    #[arg(long, conflicts_with = "compact")]
    pub json: bool,

    /// Fold the list's history into one row per reader (their last status),
    /// and drop sign-ups never confirmed within the expiry.
    #[arg(long)]
    pub compact: bool,
}
