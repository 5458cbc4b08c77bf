//! `bulletin status`: what an issue's delivery log says, against the list,
//! without sending or locking anything; as text, or as JSON for scripts.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::Outcome;
use crate::audience::subscribers::Snapshot;
use crate::cli::StatusArgs;
use crate::commands::{load_inputs, log_path};
use crate::deliver::journal::{self, History};
use crate::deliver::plan::{self, Counts, Entry};

/// The figures `status` prints, the same for both forms.
#[derive(Debug, Serialize)]
struct Report {
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
}

#[derive(Debug, Serialize)]
struct Failure {
    reply: String,
    readers: u64,
}

#[derive(Debug, Serialize)]
struct Skipped {
    unsubscribed: u64,
    #[serde(flatten)]
    held: crate::deliver::plan::Held,
    duplicate: u64,
    invalid: u64,
}

fn report(config_path: &Path, args: &StatusArgs) -> anyhow::Result<Report> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    let log = log_path(&config, &issue.id, args.log.as_deref());
    let log_found = log.exists();
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
    for entry in plan::pending(&list, history.clone(), plan::Resend::default())? {
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
            .into_iter()
            .map(|(reply, readers)| Failure { reply, readers })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Report {
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
        },
        interrupted,
    })
}

pub fn run(config_path: &Path, args: &StatusArgs) -> anyhow::Result<Outcome> {
    let r = report(config_path, args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(Outcome::Success);
    }
    let found = if r.log_found { "found" } else { "no sends yet" };
    println!("{} ({found})", r.log);
    println!("  sent:         {}", r.sent);
    println!("  failed:       {}", r.failed);
    crate::commands::print_failure_groups(
        &r.failures
            .iter()
            .map(|f| (f.reply.clone(), f.readers))
            .collect::<Vec<_>>(),
    );
    println!("  unknown:      {}", r.unknown);
    println!("  deferred:     {}", r.deferred);
    println!("  not yet sent: {}", r.not_yet_sent);
    println!(
        "  skipped:      {} unsubscribed, {}{} duplicate, {} invalid",
        r.skipped.unsubscribed, r.skipped.held, r.skipped.duplicate, r.skipped.invalid
    );
    if r.interrupted > 0 {
        println!(
            "  {} message(s) were in flight when a run stopped; the next send records them as unknown",
            r.interrupted
        );
    }
    // A report, not a verdict: it exits 0 whenever the log could be read.
    Ok(Outcome::Success)
}
