//! `bulletin status`: what an issue's delivery log says, against the list,
//! without sending or locking anything.

use std::path::Path;
use std::sync::Arc;

use crate::Outcome;
use crate::audience::subscribers::Snapshot;
use crate::cli::StatusArgs;
use crate::commands::{load_inputs, log_path};
use crate::deliver::journal::{self, History};
use crate::deliver::plan::{self, Counts, Entry};

pub fn run(config_path: &Path, args: &StatusArgs) -> anyhow::Result<Outcome> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    let log = log_path(&config, &issue.id, args.log.as_deref());
    let history = if log.exists() {
        journal::read_log(&log)?
    } else {
        History::default()
    };
    let interrupted = history.interrupted.len();
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
    println!(
        "{} ({})",
        log.display(),
        if log.exists() {
            "found"
        } else {
            "no sends yet"
        }
    );
    println!("  sent:         {}", counts.sent_before);
    println!("  failed:       {}", counts.failed_before);
    if counts.failed_before > 0 {
        crate::commands::print_failures(&log);
    }
    println!("  unknown:      {}", counts.unknown_before);
    println!("  deferred:     {deferred}");
    println!("  not yet sent: {}", counts.due - deferred);
    println!(
        "  skipped:      {} unsubscribed, {} duplicate, {} invalid",
        counts.unsubscribed, counts.duplicate, counts.invalid
    );
    if interrupted > 0 {
        println!(
            "  {interrupted} message(s) were in flight when a run stopped; the next send records them as unknown"
        );
    }
    // A report, not a verdict: it exits 0 whenever the log could be read.
    Ok(Outcome::Success)
}
