//! `bulletin status`: what an issue's delivery log says, against the list,
//! without sending or locking anything; as text, or as JSON for scripts.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::Outcome;
use crate::audience::subscribers::Snapshot;
use crate::cli::StatusArgs;
use crate::commands::load_inputs;
use crate::deliver::journal::log_path;
use crate::deliver::journal::{self, History};
use crate::deliver::plan::{self, Counts, Entry};

/// The figures `status` prints, the same for both forms.
#[derive(Debug, Serialize)]
struct Report {
    /// The issue file reported on.
    issue: String,
    log: String,
    log_found: bool,
    sent: u64,
    failed: u64,
    /// The failed readers grouped by the server's reply, most first.
    failures: Vec<Failure>,
    unknown: u64,
    deferred: u64,
    not_yet_sent: u64,
    skipped: Skipped,
    /// Messages in flight when a run stopped, not yet recorded `unknown`.
    interrupted: u64,
    /// Causes that hit many readers (see `commands::is_loud`).
    warnings: Vec<String>,
    /// Web sign-ups waiting whose confirmation mail has not gone.
    unmailed_sign_ups: u64,
    /// Confirmations and welcomes `serve` sent whose reply to the final
    /// dot never came: they may have arrived, and are not sent again.
    unknown_confirmations: u64,
    unknown_welcomes: u64,
    /// Each relay's part in this issue and its quota now (with several
    /// relays, or a daily limit).
    relays: Vec<RelayReport>,
    /// The waves the last scheduled run (`send --at`) planned, earliest
    /// first; empty when the issue was never scheduled.
    waves: Vec<WaveReport>,
}

#[derive(Debug, Serialize)]
struct WaveReport {
    /// RFC 3339, UTC.
    at: String,
    zones: Vec<String>,
    readers: u64,
    /// `sent` (its delivery began), `to come`, or `missed` (its time
    /// passed while no run was waiting for it).
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct RelayReport {
    name: String,
    /// Readers whose last row names this relay, by that row's status.
    sent: u64,
    failed: u64,
    daily_limit: Option<u64>,
    /// Sent through it in the last 24 hours, every issue's log counted.
    used_24h: u64,
    left: Option<u64>,
    /// When there is room again, if there is none (RFC 3339).
    room_from: Option<String>,
}

/// The relays' parts (from `log`) and quotas, when there is more than one
/// relay or a limit; else nothing.
fn relays(config: &crate::input::config::Config, log: &Path) -> anyhow::Result<Vec<RelayReport>> {
    let limited = config
        .relays
        .iter()
        .any(|r| r.daily_limit.is_some() || !r.warmup.is_empty());
    if config.relays.len() < 2 && !limited {
        return Ok(Vec::new());
    }
    let now = crate::clock();
    let parts = journal::per_relay(log)?;
    let part = |name: &str| parts.get(name).copied().unwrap_or_default();
    Ok(crate::commands::fleet::relays(config, log, now)?
        .iter()
        .map(|r| RelayReport {
            name: r.name.clone(),
            sent: part(&r.name).sent,
            failed: part(&r.name).failed,
            daily_limit: r.quota.limit(),
            used_24h: r.quota.used(now),
            left: r.quota.left(now),
            room_from: r
                .quota
                .room_from(now)
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        })
        .collect())
}

/// What the side-mail ledgers say: sign-ups waiting whose confirmation
/// never left (`serve`'s relay may be down), and mail that may or may not
/// have arrived.
fn side_mail(
    config: &crate::input::config::Config,
) -> anyhow::Result<crate::audience::outbox::SideMail> {
    let list = &config.newsletter.subscribers;
    if !list.exists() {
        return Ok(Default::default());
    }
    let snap = crate::audience::subscribers::Snapshot::take(list)?;
    let standings = crate::audience::subscribers::SubscriberFile::open(&snap)?.standings()?;
    Ok(crate::audience::outbox::side_mail(list, &standings)?)
}

#[derive(Debug, Serialize)]
struct Failure {
    reply: String,
    readers: u64,
    /// The cause in a few words ("DMARC", "no such mailbox").
    reason: &'static str,
    /// Readers per recipient domain.
    domains: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
struct Skipped {
    unsubscribed: u64,
    #[serde(flatten)]
    held: crate::deliver::plan::Held,
    duplicate: u64,
    invalid: u64,
    /// Readers held because a later row of theirs cannot be read.
    damaged: u64,
}

/// The issue sent last: the log whose first `sent` row is the latest,
/// and its issue file in the issues folder (`[archive] issues`, else
/// `issues/` beside the config).
fn latest_issue(config_path: &Path) -> anyhow::Result<std::path::PathBuf> {
    let config = crate::input::config::Config::load(config_path)?;
    let mut latest: Option<(std::time::SystemTime, String)> = None;
    for (id, path) in journal::every_log(&config, None) {
        match journal::first_sent(&path) {
            Ok(journal::FirstSent::At(at)) if latest.as_ref().is_none_or(|(t, _)| at > *t) => {
                latest = Some((at, id));
            }
            Ok(_) => {}
            // One unreadable log does not hide the others.
            Err(e) => eprintln!("warning: {}: passed over: {e}", path.display()),
        }
    }
    let Some((_, id)) = latest else {
        anyhow::bail!(
            "{}: no issue was sent yet (no delivery log with a sent row); name one with --issue",
            journal::logs_dir(&config).display()
        );
    };
    let folder = match &config.archive {
        Some(a) => a.issues.clone(),
        None => config
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("issues"),
    };
    let file = folder.join(format!("{id}.toml"));
    if !file.exists() {
        anyhow::bail!(
            "{}: the issue sent last ({id}) has no file here; name it with --issue",
            file.display()
        );
    }
    Ok(file)
}

fn report(config_path: &Path, args: &StatusArgs) -> anyhow::Result<Report> {
    let issue_file = match &args.issue {
        Some(file) => file.clone(),
        None => latest_issue(config_path)?,
    };
    let (config, issue) = load_inputs(config_path, &issue_file)?;
    let log = log_path(&config, &issue.id, args.log.as_deref());
    // A file there that is not a delivery log (the welcome ledger kept in
    // `logs/` before it moved beside the list) is none.
    let log_found = log.exists() && journal::is_log(&log);
    let history = if log_found {
        journal::read_log(&log)?
    } else {
        History::default()
    };
    let interrupted = history.interrupted.len() as u64;
    let history = Arc::new(history);
    let mut counts = Counts::default();
    let mut deferred = 0u64;
    let list = Snapshot::take(&config.newsletter.subscribers)?;
    for entry in plan::pending(
        &list,
        history.clone(),
        plan::Resend::default(),
        issue.audience.as_ref(),
        false,
    )? {
        if let Entry::Due(s) = &entry
            && matches!(
                history.status(s.email.fingerprint()),
                Some(journal::Status::Deferred | journal::Status::Retry)
            )
        {
            deferred += 1;
        }
        counts.add(&entry);
    }
    let failures = if counts.failed_before > 0 {
        journal::failures(&log, crate::deliver::pace::reply_pattern)?
    } else {
        Vec::new()
    };
    let readers = counts.due + counts.sent_before + counts.failed_before + counts.unknown_before;
    let warnings = crate::commands::loud_causes(&failures, readers);
    let side = side_mail(&config)?;
    let failures = failures
        .into_iter()
        .map(|g| Failure {
            reason: crate::deliver::refusal::reason(&g.reply),
            reply: g.reply,
            readers: g.readers,
            domains: g.domains.into_iter().collect(),
        })
        .collect();
    Ok(Report {
        issue: issue_file.display().to_string(),
        log: log.display().to_string(),
        log_found,
        sent: counts.sent_before,
        failed: counts.failed_before,
        failures,
        unknown: counts.unknown_before,
        deferred,
        not_yet_sent: counts.due - deferred,
        skipped: Skipped {
            unsubscribed: counts.unsubscribed,
            held: counts.held,
            duplicate: counts.duplicate,
            invalid: counts.invalid,
            damaged: counts.damaged,
        },
        interrupted,
        warnings,
        unmailed_sign_ups: side.unmailed,
        unknown_confirmations: side.unknown_confirmations,
        unknown_welcomes: side.unknown_welcomes,
        relays: relays(&config, &log)?,
        waves: if log_found {
            let now = crate::clock();
            journal::waves(&log)?
                .into_iter()
                .map(|w| WaveReport {
                    at: humantime::format_rfc3339_seconds(w.at).to_string(),
                    zones: w.zones,
                    readers: w.readers,
                    state: match (w.begun, w.at > now) {
                        (true, _) => "sent",
                        (false, true) => "to come",
                        (false, false) => "missed",
                    },
                })
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// How many readers of `issue` the send tried and a server told to try
/// again later (deferred): what `draft --send` asks before it counts a
/// draft's entries done. Readers who joined since are not counted (they
/// get the next issue, not this one resent).
pub fn still_due(config_path: &Path, issue: &Path) -> anyhow::Result<u64> {
    let r = report(
        config_path,
        &StatusArgs {
            issue: Some(issue.to_path_buf()),
            log: None,
            json: false,
        },
    )?;
    Ok(r.deferred)
}

pub fn run(config_path: &Path, args: &StatusArgs) -> anyhow::Result<Outcome> {
    let r = report(config_path, args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(Outcome::Success);
    }
    let found = if r.log_found { "found" } else { "no sends yet" };
    println!("{}: {} ({found})", r.issue, r.log);
    println!("  sent:         {}", r.sent);
    println!("  failed:       {}", r.failed);
    for f in r.failures.iter().take(10) {
        println!("    {} × {}", f.readers, f.reply);
    }
    if r.failures.len() > 10 {
        println!("    … and {} other replies", r.failures.len() - 10);
    }
    for w in &r.warnings {
        eprintln!("{w}");
    }
    println!("  unknown:      {}", r.unknown);
    println!("  deferred:     {}", r.deferred);
    println!("  not yet sent: {}", r.not_yet_sent);
    println!(
        "  skipped:      {} unsubscribed, {}{} duplicate, {} invalid{}",
        r.skipped.unsubscribed,
        r.skipped.held,
        r.skipped.duplicate,
        r.skipped.invalid,
        crate::deliver::plan::damaged_note(r.skipped.damaged)
    );
    if !r.relays.is_empty() {
        println!("  relays:");
    }
    for relay in &r.relays {
        let quota = match (relay.daily_limit, relay.left) {
            (Some(limit), Some(left)) => format!(
                "; {left} of {limit} left in 24 h ({} used){}",
                relay.used_24h,
                relay
                    .room_from
                    .as_ref()
                    .map_or_else(String::new, |t| format!(", room again from {t}"))
            ),
            _ => "; no daily limit".to_owned(),
        };
        println!(
            "    {}: {} sent, {} failed{quota}",
            relay.name, relay.sent, relay.failed
        );
    }
    if !r.waves.is_empty() {
        println!("  waves:");
    }
    for w in &r.waves {
        println!(
            "    {:<8} {}  {}  {}",
            w.state,
            w.at,
            w.zones.join(", "),
            crate::count(w.readers, "reader", "readers")
        );
    }
    if r.interrupted > 0 {
        println!(
            "  {} in flight when a run stopped; the next send records them as unknown",
            crate::count(r.interrupted, "message was", "messages were")
        );
    }
    if r.unmailed_sign_ups > 0 {
        println!(
            "  {} for a confirmation mail that has not gone (see `serve`'s log)",
            crate::count(
                r.unmailed_sign_ups,
                "web sign-up waits",
                "web sign-ups wait"
            )
        );
    }
    for (n, what) in [
        (r.unknown_confirmations, "confirmation"),
        (r.unknown_welcomes, "welcome"),
    ] {
        if n > 0 {
            println!(
                "  {} unknown: the relay never answered the end of the message, so it may have arrived; not sent again",
                crate::count(
                    n,
                    &format!("{what} mail from `serve` is"),
                    &format!("{what} mails from `serve` are")
                )
            );
        }
    }
    // A report, not a verdict: it exits 0 whenever the log could be read.
    Ok(Outcome::Success)
}
