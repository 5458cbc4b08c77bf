//! `bulletin send`: deliver an issue over SMTP to every reader due, with
//! the delivery log as the record; rerun to resume. With `--at`, at a
//! time, or (`--local`) in waves at a time in each reader's zone.

mod report;
mod survey;
mod wait;
mod waves;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::Outcome;
use crate::cli::SendArgs;
use crate::commands::{load_inputs, prepare};
use crate::deliver::journal::log_path;
use crate::deliver::journal::recorder::Recorder;
use crate::deliver::journal::{Journal, LogRow, Status};
use crate::deliver::plan::{self, Counts, Entry, Skip};
use crate::deliver::schedule::Plan;
use crate::deliver::{self, Context, Stamp, Tally};
use crate::input::config::Config;
use crate::input::diagnostic::Diagnostic;
use crate::input::when::At;
use report::{outcome, print_warnings, publish, record_refusals, report_unfinished};
use survey::{Survey, When, readers, resend};

pub fn run(config_path: &Path, args: &SendArgs) -> anyhow::Result<Outcome> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    crate::commands::refuse_welcome(&config, args)?;
    if config.relays.is_empty() {
        bail!(
            "{}: no [smtp] section; add host, port and security to send (or use --dry-run)",
            config.path.display()
        );
    }
    // The time first: one that cannot be is refused before anything else.
    let at = match &args.at {
        Some(text) => Some(
            At::parse(text, args.local, config.newsletter.timezone.as_ref())
                .map_err(|why| crate::UsageError(format!("--at: {why}")))?,
        ),
        None => None,
    };
    let log = log_path(&config, &issue.id, args.log.as_deref());
    let relays = crate::commands::fleet::relays(&config, &log, crate::clock())?;
    let (parts, template) = prepare(&config, &issue, true)?;
    // The audience is part of what was decided to send: changing it
    // mid-send needs --force, as an edited issue does.
    let fingerprint = crate::commands::send_fingerprint(&template, &issue);
    let ctx = Arc::new(Context {
        template,
        date: Stamp::new(crate::now()?),
        relays,
        sending: config.sending.clone(),
        wait: args.wait,
        signers: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        watch: Default::default(),
        refusals: Default::default(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    let run = Run {
        subject: {
            let first =
                crate::commands::first_reader(&config, &issue, &ctx.template, &parts.subject);
            // In that reader's language, as they get it.
            let own = first
                .as_ref()
                .map_or(&ctx.template, |s| ctx.template.for_reader(s.lang.as_ref()));
            crate::commands::subject_for_editor(
                &own.subject_source(),
                own,
                first.as_ref().map(|s| crate::compose::message::Recipient {
                    email: &s.email,
                    name: s.name.as_ref(),
                    row: s.row.as_ref(),
                }),
            )
        },
        log,
        fingerprint,
        audience: issue.audience.clone(),
        issue: issue.clone(),
    };
    if let Some(address) = &args.to {
        // The copy shows the images as readers will see them.
        crate::commands::archive::publish_media(&config, &run.issue)?;
        return runtime.block_on(crate::commands::test_copy::send(
            &ctx,
            &config.newsletter.subscribers,
            address,
        ));
    }
    runtime.block_on(send_all(&config, ctx, &run, args, at))
}

/// What this run sends, for reports and the log.
pub(crate) struct Run {
    pub(crate) subject: String,
    log: PathBuf,
    fingerprint: String,
    audience: Option<crate::input::issue::Audience>,
    /// The issue, for its local images (published before the first
    /// message).
    issue: crate::input::issue::Issue,
}

async fn send_all(
    config: &Config,
    ctx: Arc<Context>,
    run: &Run,
    args: &SendArgs,
    at: Option<At>,
) -> anyhow::Result<Outcome> {
    let mut journal = None;
    let survey = Survey::take(config, &ctx, (run, args), &mut journal, (When::First, None))?;
    let counts = &survey.counts;
    if let Some(a) = &run.audience
        && !args.json
    {
        println!(
            "Audience: {} of {} readers ({})",
            readers(counts),
            readers(counts) + counts.outside,
            a.describe()
        );
    }
    print_warnings(config, run, readers(counts));
    let due = args.limit.map_or(counts.due, |n| n.min(counts.due));
    if due == 0 {
        return nothing_to_send(config, run, args, counts);
    }
    let Some(journal) = journal else {
        bail!("the delivery log was not opened");
    };
    let Some(at) = at else {
        confirm(args, &ctx, run, due, None)?;
        crate::commands::archive::publish_media(config, &run.issue)?;
        let (outcome, _) = deliver_due(config, &ctx, run, args, journal, survey, None).await?;
        return Ok(outcome);
    };
    waves::send(config, ctx, (run, args), (journal, survey), at).await
}

fn nothing_to_send(
    config: &Config,
    run: &Run,
    args: &SendArgs,
    counts: &Counts,
) -> anyhow::Result<Outcome> {
    if args.json {
        crate::commands::summary::for_json(
            (&args.issue, &run.subject, &run.log),
            counts,
            &Tally::default(),
            ("nothing to send", None),
            (0.0, 0),
        )
        .print()?;
    } else {
        println!(
            "Nothing to send: no reader of {} is still due.",
            config.newsletter.subscribers.display()
        );
        crate::commands::summary::print_skips(counts);
    }
    let outcome = outcome(counts, &Tally::default());
    if outcome == Outcome::Problems {
        report_unfinished(counts, &Tally::default());
    }
    Ok(outcome)
}

/// Sends to the readers `survey` found due (in `wave`, if given), then
/// reports; gives the log back for the next wave.
async fn deliver_due(
    config: &Config,
    ctx: &Arc<Context>,
    run: &Run,
    args: &SendArgs,
    mut journal: Journal,
    survey: Survey,
    wave: Option<(&Arc<Plan>, usize)>,
) -> anyhow::Result<(Outcome, Journal)> {
    let log = &run.log;
    let list = config.newsletter.subscribers.clone();
    let counts = survey.counts;
    let due = args.limit.map_or(counts.due, |n| n.min(counts.due));
    journal.append(&[LogRow {
        email: String::new(),
        status: Status::Started,
        attempts: 0,
        code: None,
        detail: format!("fingerprint={}", run.fingerprint),
        message_id: String::new(),
        relay: String::new(),
    }])?;
    let gather = if ctx.sending.concurrency > 1 {
        deliver::journal::recorder::GATHER
    } else {
        Duration::ZERO
    };
    let (recorder, writer) = Recorder::spawn(journal, gather);
    let tally = Arc::new(Tally::default());
    let progress = crate::commands::progress::Progress::start(due, tally.clone());

    let list_for_errors = list.clone();
    let wave = wave.map(|(plan, i)| (plan.clone(), i));
    let left_out = survey.unfilled;
    let source = plan::pending(
        &survey.snapshot,
        survey.history,
        resend(args),
        run.audience.as_ref(),
        ctx.template.is_personal(),
    )?
    .filter(move |entry| survey::in_wave(wave.as_ref().map(|(p, i)| (p, *i)), entry))
    .filter(move |entry| {
        !matches!(entry, Entry::Due(_)) || !left_out.contains(&survey::key_of(entry))
    })
    .filter_map(move |entry| match entry {
        Entry::Due(s) => Some(s),
        Entry::Skipped {
            line,
            reason: Skip::Invalid(message),
            ..
        } => {
            eprintln!(
                "{}",
                Diagnostic::new(&list_for_errors, Some(line as usize), message)
            );
            None
        }
        Entry::Skipped {
            line,
            reason: Skip::Damaged(bad),
            ..
        } => {
            eprintln!(
                "{}",
                crate::commands::preview::damaged_reader(&list_for_errors, line, bad)
            );
            None
        }
        Entry::Skipped { .. } => None,
    })
    .take(due as usize);
    let started = Instant::now();
    let result = deliver::deliver(ctx.clone(), Box::new(source), recorder, tally.clone()).await;
    progress.finish();
    // Joining the writer puts every submitted row on disk.
    let journal = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the log writer panicked"))?
        .map_err(|e| anyhow::anyhow!("{}: cannot write the delivery log: {e}", log.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let sent_now = tally.get(Status::Sent);
    let left = tally.left.load(std::sync::atomic::Ordering::Relaxed);
    let still_due = crate::commands::summary::still_due(&counts, &tally);
    // Readers no relay had room for: never tried, still due.
    let waiting = if result.is_ok() {
        due.saturating_sub(tally.done() + left)
    } else {
        0
    };
    // What the run changes beyond the log happens before anything is
    // printed, so a reader of the output who goes away (`| head`) stops
    // none of it: room reserved and unused goes back, refusals are
    // recorded, the archive is rebuilt after a run that completed.
    for r in &ctx.relays {
        r.quota.release();
    }
    let bounced = record_refusals(config, ctx, &run.log)?;
    let archived = if result.is_ok() {
        publish(config)
    } else {
        None
    };
    if args.json {
        let (what, cause) = match &result {
            Err(stop) => ("stopped", Some(stop.to_string())),
            Ok(()) if sent_now == 0 => ("reached nobody", None),
            Ok(()) if outcome(&counts, &tally) == Outcome::Success && waiting == 0 => {
                ("sent", None)
            }
            Ok(()) => ("unfinished", None),
        };
        let mut s = crate::commands::summary::for_json(
            (&args.issue, &run.subject, &run.log),
            &counts,
            &tally,
            (what, cause),
            (secs, waiting),
        );
        s.still_due = still_due;
        s.by_relay = ctx
            .relays
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.sent.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect();
        s.print()?;
    } else {
        crate::commands::summary::print_text(
            ctx,
            (&run.subject, &run.log),
            (&counts, &tally),
            &result,
            (due, secs, waiting),
        );
        let readers =
            counts.due + counts.sent_before + counts.failed_before + counts.unknown_before;
        if tally.get(Status::Failed) > 0 {
            crate::commands::print_failures(log, readers);
        }
        for line in [bounced, archived].into_iter().flatten() {
            println!("{line}");
        }
    }
    if let Err(stop) = result {
        bail!("{stop}");
    }
    let outcome = match outcome(&counts, &tally) {
        _ if waiting > 0 => Outcome::Problems,
        o => o,
    };
    if outcome == Outcome::Problems {
        report_unfinished(&counts, &tally);
    }
    Ok((outcome, journal))
}

fn confirm(
    args: &SendArgs,
    ctx: &Context,
    run: &Run,
    due: u64,
    scheduled: Option<(&Plan, &At)>,
) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!("no terminal to confirm on: pass --yes to send without asking");
    }
    let when = match scheduled {
        None => String::new(),
        Some((plan, At::Instant { zone, .. })) => plan.waves.first().map_or(String::new(), |w| {
            format!(" at {}", wait::shown(w.at, zone.as_ref()))
        }),
        Some((plan, At::Local { time, .. })) => format!(
            " at {} in each reader's zone ({} from {})",
            time.strftime("%H:%M"),
            crate::count(plan.waves.len() as u64, "wave", "waves"),
            plan.waves
                .first()
                .map_or(String::new(), |w| wait::shown(w.at, None))
        ),
    };
    eprint!(
        "Send {} to {due} subscribers via {}{when}? [y/N] ",
        run.subject,
        ctx.describe()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("not sent: the send was not confirmed"),
    }
}
