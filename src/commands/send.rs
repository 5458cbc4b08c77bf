//! `bulletin send`: deliver an issue over SMTP to every reader due, with
//! the delivery log as the record; rerun to resume.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::Outcome;
use crate::audience::subscribers::{Snapshot, SubscriberFile};
use crate::audience::watch::ListWatch;
use crate::cli::SendArgs;
use crate::commands::{load_inputs, prepare};
use crate::compose::compliance;
use crate::compose::render::Rendered;
use crate::deliver::journal::log_path;
use crate::deliver::journal::recorder::Recorder;
use crate::deliver::journal::{Journal, LogRow, Status};
use crate::deliver::plan::{self, Counts, Entry, Skip};
use crate::deliver::{self, Context, Tally};
use crate::inbound::apply;
use crate::input::config::Config;
use crate::input::diagnostic::Diagnostic;

pub fn run(config_path: &Path, args: &SendArgs) -> anyhow::Result<Outcome> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    crate::commands::refuse_welcome(&config, args)?;
    if config.relays.is_empty() {
        bail!(
            "{}: no [smtp] section; add host, port and security to send (or use --dry-run)",
            config.path.display()
        );
    }
    let log = log_path(&config, &issue.id, args.log.as_deref());
    let relays = crate::commands::fleet::relays(&config, &log, crate::clock())?;
    let (parts, template) = prepare(&config, &issue, true)?;
    // The audience is part of what was decided to send: changing it
    // mid-send needs --force, as an edited issue does.
    let fingerprint = crate::commands::send_fingerprint(&template, &issue);
    let ctx = Arc::new(Context {
        template,
        date: crate::now()?,
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
            crate::commands::subject_for_editor(
                &parts.subject,
                &ctx.template,
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
    };
    if let Some(address) = &args.to {
        return runtime.block_on(crate::commands::test_copy::send(
            &ctx,
            &config.newsletter.subscribers,
            address,
        ));
    }
    runtime.block_on(send_all(&config, &parts, ctx, &run, args))
}

/// What this run sends, for reports and the log.
pub(crate) struct Run {
    pub(crate) subject: String,
    log: PathBuf,
    fingerprint: String,
    audience: Option<crate::input::issue::Audience>,
}

async fn send_all(
    config: &Config,
    parts: &Rendered,
    ctx: Arc<Context>,
    run: &Run,
    args: &SendArgs,
) -> anyhow::Result<Outcome> {
    let issue_path = &args.issue;
    let (log, fingerprint) = (&run.log, &run.fingerprint);
    // One snapshot for every pass: a subscribe meanwhile waits for the
    // next issue.
    let snapshot = Snapshot::take(&config.newsletter.subscribers)?;
    // ...but one who leaves meanwhile is not mailed (`Context::still_subscribed`).
    let columns = SubscriberFile::open(&snapshot)?.columns().clone();
    *ctx.watch.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(ListWatch::after(&snapshot, columns));
    if args.strict {
        // Refused before anything is written, so this takes a pass of its own.
        let readers = plan::recipients(&snapshot, run.audience.as_ref(), false)?
            .filter(|e| matches!(e, Entry::Due(_)))
            .count() as u64;
        if !compliance::warnings(config, parts, readers).is_empty() {
            print_warnings(config, parts, readers);
            bail!("--strict: not sending while the pre-send check has warnings");
        }
    }
    // With per-reader fields, every reader is filled in before anything
    // is written or sent: a row that cannot be stops the send here, not
    // half-way.
    let personal = ctx.template.is_personal();
    if personal {
        let mut unfilled = crate::commands::UnfilledReaders::default();
        for entry in plan::recipients(&snapshot, run.audience.as_ref(), true)? {
            if let Entry::Due(s) = &entry {
                unfilled.check(&ctx.template, &config.newsletter.subscribers, s);
            }
        }
        if !unfilled.is_empty() {
            unfilled.print();
            bail!("{}", unfilled.refusal());
        }
    }
    let mut journal = Journal::open(log)?;
    let mut history = journal.read_history()?;
    crate::commands::refuse_changed(&history, fingerprint, args.force, issue_path, log)?;
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
                detail: "the previous run stopped while sending this message; it may have arrived"
                    .into(),
                message_id: id.clone(),
                relay: String::new(),
            })
            .collect();
        journal.append(&rows)?;
        history = journal.read_history()?;
    }
    let history = Arc::new(history);
    let list = config.newsletter.subscribers.clone();

    let mut counts = Counts::default();
    let resend = plan::Resend {
        unknown: args.resend_unknown,
        failed: args.retry_failed,
    };
    for entry in plan::pending(
        &snapshot,
        history.clone(),
        resend,
        run.audience.as_ref(),
        false,
    )? {
        counts.add(&entry);
    }
    if let Some(a) = &run.audience
        && !args.json
    {
        println!(
            "Audience: {} of {} readers ({})",
            counts.due + counts.sent_before + counts.failed_before + counts.unknown_before,
            counts.due
                + counts.sent_before
                + counts.failed_before
                + counts.unknown_before
                + counts.outside,
            a.describe()
        );
    }
    let readers = counts.due + counts.sent_before + counts.failed_before + counts.unknown_before;
    print_warnings(config, parts, readers);
    let due = args.limit.map_or(counts.due, |n| n.min(counts.due));
    if due == 0 {
        if args.json {
            crate::commands::summary::for_json(
                (&args.issue, &run.subject, &run.log),
                &counts,
                &Tally::default(),
                ("nothing to send", None),
                (0.0, 0),
            )
            .print()?;
        } else {
            println!(
                "Nothing to send: no reader of {} is still due.",
                list.display()
            );
            crate::commands::summary::print_skips(&counts);
        }
        let outcome = outcome(&counts, &Tally::default());
        if outcome == Outcome::Problems {
            report_unfinished(&counts, &Tally::default());
        }
        return Ok(outcome);
    }
    confirm(args, &ctx, run, due)?;

    journal.append(&[LogRow {
        email: String::new(),
        status: Status::Started,
        attempts: 0,
        code: None,
        detail: format!("fingerprint={fingerprint}"),
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
    let source = plan::pending(&snapshot, history, resend, run.audience.as_ref(), personal)?
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
    writer
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
    let bounced = record_refusals(config, &ctx, &run.log)?;
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
            &ctx,
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
    Ok(outcome)
}

/// The one line on stderr that says why the exit code is not 0.
fn report_unfinished(counts: &Counts, tally: &Tally) {
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
fn record_refusals(config: &Config, ctx: &Context, log: &Path) -> anyhow::Result<Option<String>> {
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
fn publish(config: &Config) -> Option<String> {
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

fn print_warnings(config: &Config, parts: &Rendered, readers: u64) {
    for w in compliance::warnings(config, parts, readers) {
        crate::commands::paint::say(&format!("{}: warning: {w}", config.path.display()));
    }
}

/// Success only when every reader tried ended `sent` and nothing is left
/// failed, unknown or invalid from this run or an earlier one.
fn outcome(counts: &Counts, tally: &Tally) -> Outcome {
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

fn confirm(args: &SendArgs, ctx: &Context, run: &Run, due: u64) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!("no terminal to confirm on: pass --yes to send without asking");
    }
    eprint!(
        "Send {} to {due} subscribers via {}? [y/N] ",
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
