//! What a send reports and changes once delivery ends: the line that says
//! why the exit code is not 0, refusals recorded on the list, the archive
//! rebuilt, the pre-send warnings, the outcome.

use std::path::Path;

use super::Run;
use crate::Outcome;
use crate::compose::compliance;
use crate::deliver::journal::Status;
use crate::deliver::plan::{self, Counts};
use crate::deliver::{Context, Tally};
use crate::inbound::apply;
use crate::input::config::Config;

/// The one line on stderr that says why the exit code is not 0.
pub(super) fn report_unfinished(counts: &Counts, tally: &Tally) {
    let failed = tally.get(Status::Failed) + counts.failed_before;
    let unknown = tally.get(Status::Unknown) + counts.unknown_before;
    eprintln!(
        "not every reader has the issue: {} deferred (run again to retry), {failed} failed \
         (--retry-failed), {unknown} unknown (--resend-unknown), {} invalid{}",
        tally.get(Status::Deferred),
        counts.invalid,
        plan::damaged_note(counts.damaged)
    );
}

/// With `[bounces]`, what the relay's refusals about readers' mailboxes
/// during the send mean for the list (`inbound::apply::send_refusals`).
/// Returns the summary's line about it, if there is one.
pub(super) fn record_refusals(
    config: &Config,
    ctx: &Context,
    log: &Path,
) -> anyhow::Result<Option<String>> {
    let Some(policy) = &config.bounces else {
        return Ok(None);
    };
    let refused = std::mem::take(&mut *ctx.refusals.lock().unwrap_or_else(|e| e.into_inner()));
    if refused.is_empty() {
        return Ok(None);
    }
    let issue = log.file_stem().unwrap_or_default().to_string_lossy();
    let list = &config.newsletter.subscribers;
    let changes = apply::send_refusals(list, policy, refused, &issue, crate::now()?)?;
    Ok(Some(format!(
        "  bounced:      {} (marked on the list: their mailbox does not exist)",
        changes.bounced
    )))
}

/// With `[archive]`, a send that completed (re)builds the archive, so the
/// "View in browser" link in the mail works as soon as readers get it. A
/// failure here is said, and does not undo the send. Returns the
/// summary's line about it.
pub(super) fn publish(config: &Config) -> Option<String> {
    let archive = config.archive.as_ref()?;
    let out = crate::commands::archive::default_dir(config);
    match crate::commands::archive::build(config, archive, &out, &[]) {
        Ok(built) => Some(format!(
            "  archive:      {} ({}, {} written)",
            out.display(),
            crate::count(built.issues as u64, "issue", "issues"),
            crate::count(built.written as u64, "file", "files")
        )),
        Err(e) => {
            eprintln!("warning: the archive was not rebuilt: {e:#}");
            None
        }
    }
}

pub(super) fn print_warnings(config: &Config, run: &Run, readers: u64) {
    for w in compliance::warnings(config, &run.issue, readers) {
        crate::commands::paint::say(&format!("{}: warning: {w}", config.path.display()));
    }
}

/// Success only when every reader tried ended `sent` and nothing is left
/// failed, unknown or invalid from this run or an earlier one.
pub(super) fn outcome(counts: &Counts, tally: &Tally) -> Outcome {
    let clean = tally.get(Status::Deferred) == 0
        && tally.get(Status::Failed) == 0
        && tally.get(Status::Unknown) == 0
        && counts.failed_before == 0
        && counts.unknown_before == 0
        && counts.invalid == 0
        && counts.damaged == 0;
    if clean {
        Outcome::Success
    } else {
        Outcome::Problems
    }
}
