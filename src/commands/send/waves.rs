//! A scheduled send's waves: one for `--at`, or one per instant at which
//! readers' zones reach the time (`--local`), decided at the start and
//! written to the log as `scheduled` rows.

use crate::audience::subscribers::SubscriberFile;
use crate::cli::SendArgs;
use crate::deliver::journal::{LogRow, Status};
use crate::deliver::plan::{self, Entry};
use crate::deliver::schedule::{Plan, Zoning};
use crate::input::config::Config;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::when::At;

use super::Run;
use super::survey::{Survey, resend};

/// The waves of a scheduled send (one for `--at` alone), refused when a
/// reader's zone is unknown or a wave is later than `--late`.
pub(super) fn schedule(
    config: &Config,
    at: &At,
    survey: &Survey,
    run: &Run,
    args: &SendArgs,
) -> anyhow::Result<Plan> {
    let list = &config.newsletter.subscribers;
    let column = SubscriberFile::open(&survey.snapshot)?.columns().timezone;
    let local = matches!(at, At::Local { .. });
    let now = crate::clock();
    let mut zoning = Zoning::new(at, config.newsletter.timezone.as_ref(), now, args.late);
    for entry in plan::pending(
        &survey.snapshot,
        survey.history.clone(),
        resend(args),
        run.audience.as_ref(),
        local && column.is_some(),
    )? {
        if let Entry::Due(s) = entry {
            let zone = column.and_then(|c| s.row.as_ref()?.get(c).map(|v| &**v));
            zoning.add(s.line, s.email.fingerprint(), zone);
        }
    }
    let plan = zoning.finish().map_err(|problems| {
        Diagnostics(
            problems
                .into_iter()
                .map(|(line, why)| Diagnostic::new(list, line.map(|l| l as usize), why))
                .collect(),
        )
    })?;
    plan.refuse_late(now, args.late)
        .map_err(anyhow::Error::msg)?;
    if plan.waves.len() > 1 || local {
        let shown = match at {
            At::Local { time, .. } => time.strftime("%H:%M").to_string(),
            At::Instant { .. } => String::new(),
        };
        eprintln!(
            "Scheduled in {} ({shown} in each reader's zone):",
            crate::count(plan.waves.len() as u64, "wave", "waves")
        );
        for w in &plan.waves {
            eprintln!(
                "  {}: {}",
                w.shown(),
                crate::count(w.readers, "reader", "readers")
            );
        }
    }
    Ok(plan)
}

/// The log's record of the plan: a `scheduled` row a wave.
pub(super) fn rows(plan: &Plan) -> Vec<LogRow> {
    plan.waves
        .iter()
        .map(|w| LogRow {
            email: String::new(),
            status: Status::Scheduled,
            attempts: 0,
            code: None,
            detail: crate::deliver::journal::wave_detail(w.at, &w.zones, w.readers),
            message_id: String::new(),
            relay: String::new(),
        })
        .collect()
}
