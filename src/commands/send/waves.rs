//! A scheduled send's waves: one for `--at`, or one per instant at which
//! readers' zones reach the time (`--local`), decided at the start,
//! written to the log as `scheduled` rows, then waited for and sent.

use std::sync::Arc;

use anyhow::bail;

use crate::Outcome;
use crate::audience::subscribers::SubscriberFile;
use crate::cli::SendArgs;
use crate::deliver::Context;
use crate::deliver::journal::Journal;
use crate::deliver::journal::{LogRow, Status};
use crate::deliver::plan::{self, Entry};
use crate::deliver::schedule::{Plan, Zoning};
use crate::input::config::Config;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::when::At;

use super::survey::{Survey, When, resend};
use super::{Run, confirm, deliver_due, nothing_to_send, wait};

/// Plans the waves, asks (unless `--yes`), records the plan, then sends
/// each wave at its time, the list read again each time. Everything that
/// stops a send was found by the first survey, before any wait.
pub(super) async fn send(
    config: &Config,
    ctx: Arc<Context>,
    (run, args): (&Run, &SendArgs),
    (mut journal, survey): (Journal, Survey),
    at: At,
) -> anyhow::Result<Outcome> {
    let plan = Arc::new(schedule(config, &at, &survey, run, args)?);
    // Rows no send can mail are named as the send reaches them; said
    // now too, so the editor hears of them before the wait, not after.
    let unmailable = survey.counts.invalid + survey.counts.damaged;
    if unmailable > 0 {
        crate::commands::paint::say(&format!(
            "{}: warning: {} will not be mailed (an invalid address, or a row that cannot be \
             read); `bulletin check` names their lines",
            config.newsletter.subscribers.display(),
            crate::count(unmailable, "row", "rows")
        ));
    }
    let due = args
        .limit
        .map_or(survey.counts.due, |n| n.min(survey.counts.due));
    confirm(args, &ctx, run, due, Some((&plan, &at)))?;
    // The time may have passed while the question waited for an answer.
    plan.refuse_late(crate::clock(), args.late)
        .map_err(anyhow::Error::msg)?;
    crate::commands::archive::publish_media(config, &run.issue)?;
    journal.append(&rows(&plan))?;
    journal.sync()?;
    drop(survey);
    let (zone, local) = match &at {
        At::Instant { zone, .. } => (zone.as_ref(), false),
        At::Local { .. } => (None, true),
    };
    let mut signals = wait::Signals::watch()?;
    let mut worst = Outcome::Success;
    // When the run was last free to send: a wave reached late because the
    // waves before it took long is sent, one reached late after the run
    // sat idle (a machine asleep) is not.
    let mut ready = crate::clock();
    for (i, w) in plan.waves.iter().enumerate() {
        let what = if local {
            w.shown()
        } else {
            wait::shown(w.at, zone)
        };
        wait::until(w.at, &what, &mut signals)
            .await
            .map_err(|stop| match i {
                0 => stop,
                _ => anyhow::anyhow!(
                    "stopped while waiting for {what}: {} sent, not this one or later; \
                     run the same `send --at ... --local` again to send the waves to come",
                    crate::count(i as u64, "wave was", "waves were")
                ),
            })?;
        // Late by a machine that slept or a clock put right: this wave is
        // not sent (when in doubt, do not mail), the ones to come still
        // are, and the run ends in a problem that names it.
        if let Some(why) = plan.too_late(i, crate::clock(), args.late, ready) {
            crate::commands::paint::say(&format!(
                "error: too late to send wave {} of {}: {why}; its {} not mailed{}. \
                 Once this run ends, `bulletin send --issue {}` (no --at) sends to them",
                i + 1,
                plan.waves.len(),
                crate::count(w.readers, "reader was", "readers were"),
                if i + 1 < plan.waves.len() {
                    "; the waves to come are still sent at their time"
                } else {
                    ""
                },
                args.issue.display()
            ));
            worst = Outcome::Problems;
            continue;
        }
        // The list is read again: who left meanwhile is not mailed. With
        // one instant, the list as it is now (who joined meanwhile is
        // mailed too); by zone, each wave's readers as planned.
        let wave = local.then_some((&plan, i));
        let mut open = Some(journal);
        let survey = Survey::take(
            config,
            &ctx,
            (run, args),
            &mut open,
            (When::AtTheTime, wave),
        )?;
        let Some(j) = open else {
            bail!("the delivery log was not kept open");
        };
        journal = j;
        ctx.date.set(crate::clock());
        if plan.waves.len() > 1 && !args.json {
            println!(
                "Wave {} of {}: {}, {}",
                i + 1,
                plan.waves.len(),
                w.zones.join(", "),
                crate::count(survey.counts.due, "reader due", "readers due")
            );
        }
        let outcome = if survey.counts.due == 0 {
            nothing_to_send(config, run, args, &survey.counts)?
        } else {
            let (outcome, back) =
                deliver_due(config, &ctx, run, args, journal, survey, wave).await?;
            journal = back;
            outcome
        };
        if outcome == Outcome::Problems {
            worst = Outcome::Problems;
        }
        ready = crate::clock();
    }
    Ok(worst)
}

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
        .enumerate()
        .map(|(i, w)| LogRow {
            email: String::new(),
            status: Status::Scheduled,
            attempts: 0,
            code: None,
            detail: crate::deliver::journal::wave_detail(
                (i, plan.waves.len()),
                w.at,
                &w.zones,
                w.readers,
            ),
            message_id: String::new(),
            relay: String::new(),
        })
        .collect()
}
