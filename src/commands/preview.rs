//! `bulletin send --dry-run`: build every message exactly as it would be
//! sent and, with `--out`, write them as files; nothing goes out.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::Outcome;
use crate::audience::subscribers::Snapshot;
use crate::cli::SendArgs;
use crate::commands::{load_inputs, prepare};
use crate::compose::message::Recipient;
use crate::compose::render::{as_html, as_typed, html_attr};
use crate::deliver::plan::{self, Entry, Skip};
use crate::input::diagnostic::Diagnostic;

/// Every list reader and what a send would do with them, beside the previews.
const RECIPIENTS: &str = "recipients.csv";

/// The rows of `recipients.csv`: `line,email,outcome,why`, in list order.
#[derive(Default)]
struct Fates {
    rows: Vec<(u64, String, &'static str, String)>,
}

impl Fates {
    fn add(&mut self, line: u64, email: &str, outcome: &'static str, why: &str) {
        self.rows
            .push((line, email.to_owned(), outcome, why.to_owned()));
    }

    /// A skipped row, unless it is only a reader's history (a later row
    /// of someone already listed).
    fn skipped(&mut self, line: u64, email: &str, reason: &Skip) {
        use crate::deliver::journal::Status as Logged;
        let (outcome, why) = match reason {
            Skip::History => return,
            Skip::Unsubscribed => ("not mailed", "unsubscribed".to_owned()),
            Skip::Held(status) => ("not mailed", status.as_str().to_owned()),
            Skip::Damaged(bad) => ("not mailed", format!("unreadable line {bad}")),
            Skip::OutOfAudience => ("not mailed", "not in audience".to_owned()),
            Skip::Duplicate(_) => ("not mailed", "listed twice".to_owned()),
            Skip::Invalid(message) => ("not mailed", format!("unreadable line {line}: {message}")),
            Skip::Done(Logged::Sent) => ("not mailed", "already sent".to_owned()),
            Skip::Done(Logged::Failed) => (
                "not mailed",
                "failed before (--retry-failed sends again)".to_owned(),
            ),
            Skip::Done(_) => (
                "not mailed",
                "may have arrived before (--resend-unknown sends again)".to_owned(),
            ),
        };
        self.rows.push((line, email.to_owned(), outcome, why));
    }

    fn csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["line", "email", "outcome", "why"])?;
        for (line, email, outcome, why) in &self.rows {
            out.write_record([line.to_string().as_str(), email, outcome, why])?;
        }
        out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Marks a folder as one of our previews, which a later dry-run may replace.
const MARKER: &str = ".bulletin-preview";

pub fn run(config_path: &Path, args: &SendArgs) -> anyhow::Result<Outcome> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    // What `send` refuses, the dry-run refuses the same way.
    crate::commands::refuse_welcome(&config, args)?;
    if let Some(out) = &args.out {
        check_replaceable(out)?;
    }
    let newsletter = &config.newsletter;
    let (parts, template) = prepare(&config, &issue, false)?;
    // The delivery log, read as `send` reads it (never written): readers
    // an earlier run settled are not due, and a log started for another
    // issue is refused without --force.
    let log = crate::deliver::journal::log_path(&config, &issue.id, args.log.as_deref());
    let history = match (log.exists(), crate::deliver::journal::is_log(&log)) {
        (false, _) => crate::deliver::journal::History::default(),
        (true, true) => crate::deliver::journal::read_log(&log)?,
        // `send` would refuse it: so does its dry-run.
        (true, false) => bail!(
            "{}: this file is not a delivery log; name another with --log",
            log.display()
        ),
    };
    let fingerprint = crate::commands::send_fingerprint(&template, &issue);
    crate::commands::refuse_changed(&history, &fingerprint, args.force, &args.issue, &log)?;
    let resend = plan::Resend {
        unknown: args.resend_unknown,
        failed: args.retry_failed,
    };
    // `--strict` refuses while the pre-send check warns, as `send` does.
    if args.strict {
        let snapshot = Snapshot::take(&newsletter.subscribers)?;
        let readers = plan::recipients(&snapshot, issue.audience.as_ref(), false)?
            .filter(|e| matches!(e, Entry::Due(_)))
            .count() as u64;
        let warnings = crate::compose::compliance::warnings(&config, &issue, readers);
        if !warnings.is_empty() {
            for w in &warnings {
                crate::commands::paint::say(&format!("{}: warning: {w}", config.path.display()));
            }
            bail!("--strict: not sending while the pre-send check has warnings");
        }
    }
    if config.unsubscribe.is_some() && !template.has_unsubscribe_secret() {
        eprintln!(
            "note: the unsubscribe secret is not set, so previews carry a placeholder token; a real send needs it"
        );
    }
    let date = crate::now()?;
    let list = &newsletter.subscribers;
    let personal = template.is_personal();
    let entries = plan::pending(
        &Snapshot::take(list)?,
        std::sync::Arc::new(history),
        resend,
        issue.audience.as_ref(),
        personal,
    )?;

    // A reader whose fields cannot be filled in is told of, and then no
    // preview is written at all (the staging folder goes).
    let mut unfilled = crate::commands::UnfilledReaders::default();

    let staging = match &args.out {
        Some(out) => Some(Staging::new(out)?),
        None => None,
    };
    // Every reader and what a send would do with them, with --out.
    let mut fates = staging.as_ref().map(|_| Fates::default());
    // Images not published yet: the preview shows the files, each in
    // place of its published address.
    let local_files: Vec<(String, String)> = {
        let mut placed_issue = issue.clone();
        // Without an archive nothing is published, and nothing to map.
        let _ = crate::commands::place_images(&config, &mut placed_issue);
        issue
            .images
            .iter()
            .filter_map(|image| {
                let placed = placed_issue.media.get(&image.src)?;
                let file = url::Url::from_file_path(std::path::absolute(&image.path).ok()?).ok()?;
                Some((placed.url.clone(), file.to_string()))
            })
            .collect()
    };
    // The previews show the first reader's message (their values).
    let write_previews = |url: &str, values: &[String]| -> anyhow::Result<()> {
        if let Some(stage) = &staging {
            // A text-only issue has no HTML to preview: preview.txt is it.
            if let Some(html) = &parts.html {
                let mut html = html.fill(&html_attr(url), values, as_html);
                for (published, file) in &local_files {
                    html = html.replace(published, file);
                }
                // A browser has no message to find the logo in: given inline.
                if let Some(logo) = &config.newsletter.logo {
                    use base64::Engine as _;
                    let data = base64::engine::general_purpose::STANDARD.encode(&logo.bytes);
                    html = html.replace(
                        &format!("cid:{}", crate::compose::render::LOGO_CID),
                        &format!("data:{};base64,{data}", logo.mime()),
                    );
                }
                stage.write("preview.html", html.as_bytes())?;
            }
            let text = parts.text.fill(url, values, as_typed);
            stage.write("preview.txt", text.as_bytes())?;
        }
        Ok(())
    };

    let mut tally = Tally::default();
    // The subject as the first reader gets it (personalised or not).
    let mut first_subject: Option<String> = None;
    // Whether the previews were written for a reader.
    let mut previewed = false;
    for entry in entries {
        match entry {
            Entry::Due(s) => {
                let to = Recipient {
                    email: &s.email,
                    name: s.name.as_ref(),
                    row: s.row.as_ref(),
                };
                // In the reader's language, when the issue has it.
                let own = template.for_reader(s.lang.as_ref());
                let values = match own.values(to) {
                    Ok(values) => values,
                    Err(why) => {
                        unfilled.add(list, &s, &why);
                        continue;
                    }
                };
                if args.limit.is_some_and(|n| tally.due >= n) {
                    tally.beyond_limit += 1;
                    if let Some(f) = fates.as_mut() {
                        f.add(s.line, s.email.as_str(), "not yet", "beyond --limit");
                    }
                    continue;
                }
                let bytes = own.build_filled(to, date, own.message_id(&s.email), &values)?;
                tally.due += 1;
                if let Some(f) = fates.as_mut() {
                    f.add(s.line, s.email.as_str(), "would get it", "");
                }
                // A personalised subject as the first reader gets it, in
                // their language, as `check` and `send` show it.
                if first_subject.is_none() && crate::commands::holds_field(&parts.subject) {
                    first_subject = Some(crate::commands::subject_for_editor(
                        &own.subject_source(),
                        own,
                        Some(to),
                    ));
                }
                // The previews: the first reader who reads the issue's own
                // language (`parts` is in it).
                if !previewed && std::ptr::eq(own, &template) {
                    previewed = true;
                    let url = template.unsubscribe_url(&s.email).unwrap_or_default();
                    write_previews(&url, &values)?;
                }
                tally.bytes += bytes.len() as u64;
                tally.largest = tally.largest.max(bytes.len());
                if let Some(stage) = &staging {
                    stage.write(&eml_name(tally.due, s.email.as_str()), &bytes)?;
                }
            }
            Entry::Skipped {
                line,
                email,
                reason,
            } => {
                if let Some(f) = fates.as_mut() {
                    f.skipped(line, &email, &reason);
                }
                match reason {
                    Skip::Unsubscribed => tally.unsubscribed += 1,
                    Skip::Held(status) => tally.held.add(status),
                    // History rows are the same reader again.
                    Skip::History => {}
                    Skip::Done(crate::deliver::journal::Status::Sent) => tally.sent_before += 1,
                    Skip::Done(crate::deliver::journal::Status::Failed) => tally.failed_before += 1,
                    Skip::Done(_) => tally.unknown_before += 1,
                    Skip::Duplicate(_) => tally.duplicate += 1,
                    Skip::Invalid(message) => {
                        tally.invalid += 1;
                        eprintln!("{}", Diagnostic::new(list, Some(line as usize), message));
                    }
                    Skip::OutOfAudience => tally.outside += 1,
                    Skip::Damaged(bad) => {
                        tally.damaged += 1;
                        eprintln!("{}", damaged_reader(list, line, bad));
                    }
                }
            }
        }
    }

    if !unfilled.is_empty() {
        unfilled.print();
        bail!(
            "{}",
            unfilled
                .refusal()
                .replace("not sent:", "no preview written:")
                .replace(" Nobody was mailed", "")
        );
    }
    // Nobody due, or every reader reads a translation: the issue's own
    // language, for nobody in particular.
    if !previewed {
        write_previews(&template.preview_unsubscribe_url().unwrap_or_default(), &[])?;
    }
    if let (Some(stage), Some(fates)) = (&staging, &fates) {
        stage.write(RECIPIENTS, &fates.csv()?)?;
    }
    let written = match (staging, &args.out) {
        (Some(stage), Some(out)) => Some(stage.install(out)?),
        _ => None,
    };
    let subject = first_subject
        .unwrap_or_else(|| crate::commands::subject_for_editor(&parts.subject, &template, None));
    match &issue.title {
        // The public's name for it, and the subject readers get.
        Some(title) => println!("Dry run of «{title}» (subject {subject}): nothing was sent."),
        None => println!("Dry run of {subject}: nothing was sent."),
    }
    // The numbers `send` would act on now: the readers it would mail,
    // and those an earlier run settled (by the delivery log).
    println!("  recipients:   {}", tally.due);
    let settled = tally.sent_before + tally.failed_before + tally.unknown_before;
    if settled > 0 {
        println!(
            "  sent before:  {} (by {}); failed: {}, may have arrived: {}",
            tally.sent_before,
            log.display(),
            tally.failed_before,
            tally.unknown_before
        );
    }
    if tally.beyond_limit > 0 {
        println!("  left:         {} (beyond --limit)", tally.beyond_limit);
    }
    if let Some(a) = &issue.audience {
        let readers = tally.due + tally.beyond_limit + settled;
        println!(
            "  audience:     {} of {} readers ({})",
            readers,
            readers + tally.outside,
            a.describe()
        );
    }
    println!(
        "  skipped:      {} unsubscribed, {}{} duplicate, {} invalid{}",
        tally.unsubscribed,
        tally.held,
        tally.duplicate,
        tally.invalid,
        crate::deliver::plan::damaged_note(tally.damaged)
    );
    if let Some(average) = tally.bytes.checked_div(tally.due) {
        println!(
            "  message size: {} bytes on average, {} at most ({})",
            average,
            tally.largest,
            crate::commands::part_sizes(&parts)
        );
    }
    if let Some(out) = written {
        println!(
            "  written:      {} ({} .eml files, {}preview.txt, recipients.csv)",
            out.display(),
            tally.due,
            if parts.html.is_some() {
                "preview.html, "
            } else {
                ""
            }
        );
    }
    if tally.invalid > 0 || tally.damaged > 0 {
        eprintln!(
            "{} in {} skipped{}; fix them so those readers get the issue",
            crate::count(tally.invalid, "invalid row", "invalid rows"),
            list.display(),
            crate::deliver::plan::damaged_note(tally.damaged)
        );
        return Ok(Outcome::Problems);
    }
    Ok(Outcome::Success)
}

#[derive(Default)]
struct Tally {
    due: u64,
    /// Due, but past `--limit`: a later run's.
    beyond_limit: u64,
    /// Settled by an earlier run, by the delivery log.
    sent_before: u64,
    failed_before: u64,
    unknown_before: u64,
    bytes: u64,
    largest: usize,
    unsubscribed: u64,
    held: crate::deliver::plan::Held,
    duplicate: u64,
    invalid: u64,
    damaged: u64,
    outside: u64,
}

/// `000001-alice_example.org.eml`: ordered like the list, and safe as a
/// file name whatever the address holds.
fn eml_name(n: u64, email: &str) -> String {
    let safe: String = email
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '+' | '_' => c,
            _ => '_',
        })
        .collect();
    format!("{n:06}-{safe}.eml")
}

/// A folder may be replaced if it is absent, empty or an earlier preview.
fn check_replaceable(out: &Path) -> anyhow::Result<()> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot be used for previews", out.display())),
        Ok(mut entries) => {
            if out.join(MARKER).exists() || entries.next().is_none() {
                Ok(())
            } else {
                bail!(
                    "{}: the folder exists and holds files bulletin did not write; choose another --out",
                    out.display()
                )
            }
        }
    }
}

/// The preview folder under construction, beside its final place; dropped
/// unfinished, it removes itself, so a failed run leaves no folder behind.
struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    fn new(out: &Path) -> anyhow::Result<Self> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .with_context(|| format!("{}: cannot create the folder", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".bulletin-staging-")
            .tempdir_in(&parent)
            .with_context(|| format!("{}: cannot create a folder here", parent.display()))?;
        fs::write(
            dir.path().join(MARKER),
            b"written by bulletin send --dry-run\n",
        )?;
        Ok(Self { dir })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.path().join(name);
        fs::write(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))
    }

    /// Moves the finished folder into place, replacing an earlier preview.
    fn install(self, out: &Path) -> anyhow::Result<PathBuf> {
        check_replaceable(out)?;
        if out.exists() {
            fs::remove_dir_all(out).with_context(|| {
                format!("{}: cannot replace the earlier preview", out.display())
            })?;
        }
        let dir = self.dir.keep();
        fs::rename(&dir, out)
            .with_context(|| format!("{}: cannot move the preview into place", out.display()))?;
        Ok(out.to_path_buf())
    }
}

/// The line that says why a reader is held: a later row of theirs cannot
/// be read, so it is not known whether they left.
pub fn damaged_reader(list: &std::path::Path, line: u64, bad: u64) -> Diagnostic {
    Diagnostic::new(
        list,
        Some(line as usize),
        format!(
            "not mailed: this reader's row at line {bad} cannot be read (it may be an unsubscribe); fix or remove that line"
        ),
    )
}
