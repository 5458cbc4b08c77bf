//! What `send` says when the run ends, the outcome first: as text for
//! people, or one JSON object for scripts (`--json`, docs/reference.md, "Scripting").

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::deliver::journal::Status;
use crate::deliver::plan::{self, Counts};
use crate::deliver::{Context, Tally};

/// The final summary of a send, for scripts.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub issue: String,
    /// As the first reader got it (`subject_for_editor`).
    pub subject: String,
    pub log: String,
    /// `sent` (everyone due was reached), `unfinished` (some deferred,
    /// failed, unknown or waiting for a relay's quota), `reached nobody`,
    /// `stopped` (the run stopped: see `cause`) or `nothing to send`.
    pub outcome: &'static str,
    /// Why the run stopped, when it did.
    pub cause: Option<String>,
    pub seconds: f64,
    pub sent: u64,
    pub deferred: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Readers a run of the same command would still mail.
    pub still_due: u64,
    /// Readers who left during the send, not mailed.
    pub left_during_send: u64,
    /// Readers no relay had room for today (daily limits).
    pub waiting_for_quota: u64,
    /// Messages sent through each relay, with several.
    pub by_relay: BTreeMap<String, u64>,
    pub skipped: Skipped,
}

/// Readers this run did not mail, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub sent_earlier: u64,
    pub failed_earlier: u64,
    pub unknown_earlier: u64,
    pub unsubscribed: u64,
    #[serde(flatten)]
    pub held: crate::deliver::plan::Held,
    pub outside_audience: u64,
    pub duplicate: u64,
    pub invalid: u64,
    pub damaged: u64,
}

impl Skipped {
    pub fn of(c: &Counts) -> Self {
        Self {
            sent_earlier: c.sent_before,
            failed_earlier: c.failed_before,
            unknown_earlier: c.unknown_before,
            unsubscribed: c.unsubscribed,
            held: c.held,
            outside_audience: c.outside,
            duplicate: c.duplicate,
            invalid: c.invalid,
            damaged: c.damaged,
        }
    }
}

/// Readers a run of the same command would mail: those due at the start
/// (all of them, past any `--limit`), less those this run settled (sent,
/// failed, unknown) and those who left meanwhile.
pub fn still_due(counts: &Counts, tally: &Tally) -> u64 {
    counts.due.saturating_sub(
        tally.get(Status::Sent)
            + tally.get(Status::Failed)
            + tally.get(Status::Unknown)
            + tally.left.load(std::sync::atomic::Ordering::Relaxed),
    )
}

impl Summary {
    pub fn print(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(self)?);
        Ok(())
    }
}

/// The summary for people: the outcome first when the run stopped or
/// reached nobody, then the counts.
pub fn print_text(
    ctx: &Context,
    (subject, log): (&str, &Path),
    (counts, tally): (&Counts, &Tally),
    result: &Result<(), crate::deliver::Stop>,
    (due, secs, waiting): (u64, f64, u64),
) {
    let sent_now = tally.get(Status::Sent);
    let still_due = still_due(counts, tally);
    match result {
        Err(stop) => println!(
            "Stopped after {sent_now} of {due}: {stop}. Still due: {still_due}; run the same command again to go on."
        ),
        Ok(()) if sent_now == 0 => println!(
            "Reached nobody: {} deferred, {} failed, {} unknown (the causes are below). Still due: {still_due}; run the same command again to retry.",
            tally.get(Status::Deferred),
            tally.get(Status::Failed),
            tally.get(Status::Unknown)
        ),
        Ok(()) => {}
    }
    println!(
        "{} {} via {} in {secs:.1} s ({:.0} messages/s).",
        if sent_now > 0 { "Sent" } else { "Tried" },
        subject,
        ctx.describe(),
        tally.done() as f64 / secs.max(1e-9)
    );
    for status in [
        Status::Sent,
        Status::Deferred,
        Status::Failed,
        Status::Unknown,
    ] {
        println!(
            "  {:<13} {}",
            format!("{}:", status.as_str()),
            tally.get(status)
        );
    }
    if ctx.relays.len() > 1 {
        let by: Vec<String> = ctx
            .relays
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.name,
                    r.sent.load(std::sync::atomic::Ordering::Relaxed)
                )
            })
            .collect();
        println!("  by relay:     {}", by.join(", "));
    }
    print_skips(counts);
    let left = tally.left.load(std::sync::atomic::Ordering::Relaxed);
    if left > 0 {
        println!("  left during the send, not mailed: {left}");
    }
    crate::commands::fleet::report_quotas(&ctx.relays, waiting);
    println!("  log:          {}", log.display());
}

/// The summary for `--json`, `still_due` and `by_relay` to be filled in
/// by a run that sent.
pub fn for_json(
    (issue, subject, log): (&Path, &str, &Path),
    counts: &Counts,
    tally: &Tally,
    (outcome, cause): (&'static str, Option<String>),
    (seconds, waiting): (f64, u64),
) -> Summary {
    Summary {
        issue: issue.display().to_string(),
        subject: subject.to_owned(),
        log: log.display().to_string(),
        outcome,
        cause,
        seconds,
        sent: tally.get(Status::Sent),
        deferred: tally.get(Status::Deferred),
        failed: tally.get(Status::Failed),
        unknown: tally.get(Status::Unknown),
        still_due: counts.due,
        left_during_send: tally.left.load(std::sync::atomic::Ordering::Relaxed),
        waiting_for_quota: waiting,
        by_relay: Default::default(),
        skipped: Skipped::of(counts),
    }
}

pub fn print_skips(c: &Counts) {
    println!(
        "  skipped:      {} sent earlier, {} failed earlier{}, {} unknown earlier{}, {} unsubscribed, {}{} duplicate, {} invalid{}",
        c.sent_before,
        c.failed_before,
        if c.failed_before > 0 {
            " (--retry-failed to send again)"
        } else {
            ""
        },
        c.unknown_before,
        if c.unknown_before > 0 {
            " (--resend-unknown to resend)"
        } else {
            ""
        },
        c.unsubscribed,
        c.held,
        c.duplicate,
        c.invalid,
        plan::damaged_note(c.damaged)
    );
}
