//! What a send reads before it sends: the list and the delivery log at one
//! moment, who is due (in one wave, or all), and what stops the send
//! before anything is written.

use std::sync::Arc;

use anyhow::bail;

use super::Run;
use super::report::print_warnings;
use crate::audience::subscribers::{Snapshot, SubscriberFile};
use crate::audience::watch::ListWatch;
use crate::cli::SendArgs;
use crate::compose::compliance;
use crate::deliver::Context;
use crate::deliver::journal::{History, Journal, LogRow, Status};
use crate::deliver::plan::{self, Counts, Entry};
use crate::deliver::schedule::Plan;
use crate::input::config::Config;
use crate::input::email::{FingerprintSet, fingerprint_of};

/// The list and the log as a send reads them at one moment: who is due,
/// what earlier runs settled.
pub(super) struct Survey {
    pub(super) snapshot: Snapshot,
    pub(super) history: Arc<History>,
    pub(super) counts: Counts,
    /// Readers due whose fields cannot be filled in, found by a survey at
    /// a scheduled time (they changed or joined during the wait): left
    /// out of the send and counted invalid, so the others still get it.
    pub(super) unfilled: FingerprintSet,
}

/// Which survey of a run this is: the one before any wait, or one at a
/// scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// Everything that stops the send stops it here.
    First,
    /// The run has been asked for and is under way: what would have
    /// stopped it is named and left out, never a reason to mail nobody.
    AtTheTime,
}

impl Survey {
    /// Reads the list and the log, and refuses what cannot be sent:
    /// `--strict` warnings and readers whose fields cannot be filled in
    /// (on the first survey; later, such readers are left out), a log
    /// begun for another version of the issue. With `wave`, only that
    /// wave's readers count.
    pub(super) fn take(
        config: &Config,
        ctx: &Context,
        (run, args): (&Run, &SendArgs),
        journal: &mut Option<Journal>,
        (when, wave): (When, Option<(&Arc<Plan>, usize)>),
    ) -> anyhow::Result<Survey> {
        // One snapshot for every pass: a subscribe meanwhile waits for the
        // next issue.
        let snapshot = Snapshot::take(&config.newsletter.subscribers)?;
        // ...but one who leaves meanwhile is not mailed (`Context::still_subscribed`).
        let columns = SubscriberFile::open(&snapshot)?.columns().clone();
        *ctx.watch.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(ListWatch::after(&snapshot, columns));
        let in_wave = |entry: &Entry| in_wave(wave, entry);
        if args.strict && when == When::First {
            // Refused before anything is written (and, scheduled, before
            // the wait), so this takes a pass of its own.
            let readers = plan::recipients(&snapshot, run.audience.as_ref(), false)?
                .filter(|e| matches!(e, Entry::Due(_)) && in_wave(e))
                .count() as u64;
            if !compliance::warnings(config, &run.issue, readers).is_empty() {
                print_warnings(config, run, readers);
                bail!("--strict: not sending while the pre-send check has warnings");
            }
        }
        // With per-reader fields, every reader is filled in before anything
        // is written or sent: a row that cannot be stops the send here, not
        // half-way.
        let mut left_out = FingerprintSet::default();
        if ctx.template.is_personal() {
            let mut unfilled = crate::commands::UnfilledReaders::default();
            for entry in plan::recipients(&snapshot, run.audience.as_ref(), true)? {
                if let Entry::Due(s) = &entry
                    && in_wave(&entry)
                    && !unfilled.check(&ctx.template, &config.newsletter.subscribers, s)
                {
                    left_out.insert(s.email.fingerprint());
                }
            }
            if !unfilled.is_empty() {
                unfilled.print();
                if when == When::First {
                    bail!("{}", unfilled.refusal());
                }
                crate::commands::paint::say(&format!(
                    "{}: warning: {} changed or joined during the wait and cannot be filled \
                     in; not mailed now (fix the rows, then `bulletin send --issue {}`)",
                    config.newsletter.subscribers.display(),
                    crate::count(unfilled.count, "reader", "readers"),
                    args.issue.display()
                ));
            }
        }
        // Opened once the checks pass, so a refusal leaves no log behind;
        // then held until the run ends, waits included: a second send of
        // this issue meanwhile is refused.
        let journal = match journal {
            Some(j) => j,
            None => journal.insert(Journal::open(&run.log)?),
        };
        let mut history = journal.read_history()?;
        crate::commands::refuse_changed(
            &history,
            &run.fingerprint,
            args.force,
            &args.issue,
            &run.log,
        )?;
        // A run that died mid-message left `sending` rows with no outcome.
        if !history.interrupted.is_empty() {
            let rows: Vec<LogRow> = history
                .interrupted
                .iter()
                .map(|(email, id)| LogRow {
                    email: email.clone(),
                    status: Status::Unknown,
                    attempts: 0,
                    code: None,
                    detail:
                        "the previous run stopped while sending this message; it may have arrived"
                            .into(),
                    message_id: id.clone(),
                    relay: String::new(),
                })
                .collect();
            journal.append(&rows)?;
            history = journal.read_history()?;
        }
        let history = Arc::new(history);
        let mut counts = Counts::default();
        for entry in plan::pending(
            &snapshot,
            history.clone(),
            resend(args),
            run.audience.as_ref(),
            false,
        )? {
            if in_wave(&entry) {
                counts.add(&entry);
                if matches!(entry, Entry::Due(_)) && left_out.contains(&key_of(&entry)) {
                    counts.due -= 1;
                    counts.invalid += 1;
                }
            }
        }
        Ok(Survey {
            snapshot,
            history,
            counts,
            unfilled: left_out,
        })
    }
}

pub(super) fn resend(args: &SendArgs) -> plan::Resend {
    plan::Resend {
        unknown: args.resend_unknown,
        failed: args.retry_failed,
    }
}

/// Whether `entry` belongs to `wave` (any, without one): its reader is
/// mailed in it, or (a row the plan mails in no wave: invalid, damaged,
/// settled by an earlier run) it is counted once, with the first wave.
/// A reader who joined after the plan was made is in none: they wait
/// for the next issue.
pub(super) fn in_wave(wave: Option<(&Arc<Plan>, usize)>, entry: &Entry) -> bool {
    let Some((plan, i)) = wave else {
        return true;
    };
    match entry {
        Entry::Due(_) => plan.mails(i, key_of(entry)),
        Entry::Skipped { .. } => plan.wave_of(key_of(entry)).unwrap_or(0) == i,
    }
}

/// The reader an entry is about, as the plan keys them.
pub(super) fn key_of(entry: &Entry) -> crate::input::email::Fingerprint {
    match entry {
        Entry::Due(s) => s.email.fingerprint(),
        Entry::Skipped { email, .. } => fingerprint_of(email),
    }
}

/// Readers the counts say were on the list for this issue.
pub(super) fn readers(counts: &Counts) -> u64 {
    counts.due + counts.sent_before + counts.failed_before + counts.unknown_before
}
