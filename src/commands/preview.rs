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

/// Marks a folder as one of our previews, which a later dry-run may replace.
const MARKER: &str = ".bulletin-preview";

pub fn run(config_path: &Path, args: &SendArgs) -> anyhow::Result<Outcome> {
    let (config, issue) = load_inputs(config_path, &args.issue)?;
    if let Some(out) = &args.out {
        check_replaceable(out)?;
    }
    let newsletter = &config.newsletter;
    let (parts, template) = prepare(&config, &issue, false)?;
    if config.unsubscribe.is_some() && !template.has_unsubscribe_secret() {
        eprintln!(
            "note: the unsubscribe secret is not set, so previews carry a placeholder token; a real send needs it"
        );
    }
    let date = crate::now()?;
    let list = &newsletter.subscribers;
    let personal = template.is_personal();
    let entries = plan::recipients(&Snapshot::take(list)?, issue.audience.as_ref(), personal)?;
    // A reader whose fields cannot be filled in is told of, and then no
    // preview is written at all (the staging folder goes).
    let mut unfilled = crate::commands::UnfilledReaders::default();

    let staging = match &args.out {
        Some(out) => Some(Staging::new(out)?),
        None => None,
    };
    // The previews show the first reader's message (their values).
    let write_previews = |url: &str, values: &[String]| -> anyhow::Result<()> {
        if let Some(stage) = &staging {
            let html = parts.html.fill(&html_attr(url), values, as_html);
            stage.write("preview.html", html.as_bytes())?;
            let text = parts.text.fill(url, values, as_typed);
            stage.write("preview.txt", text.as_bytes())?;
        }
        Ok(())
    };

    let mut tally = Tally::default();
    for entry in entries {
        match entry {
            Entry::Due(s) => {
                let to = Recipient {
                    email: &s.email,
                    name: s.name.as_ref(),
                    row: s.row.as_ref(),
                };
                let values = match template.values(to) {
                    Ok(values) => values,
                    Err(why) => {
                        unfilled.add(list, &s, &why);
                        continue;
                    }
                };
                let bytes =
                    template.build_filled(to, date, template.message_id(&s.email), &values)?;
                tally.due += 1;
                if tally.due == 1 {
                    let url = template.unsubscribe_url(&s.email).unwrap_or_default();
                    write_previews(&url, &values)?;
                }
                tally.bytes += bytes.len() as u64;
                tally.largest = tally.largest.max(bytes.len());
                if let Some(stage) = &staging {
                    stage.write(&eml_name(tally.due, s.email.as_str()), &bytes)?;
                }
            }
            Entry::Skipped { line, reason } => match reason {
                Skip::Unsubscribed => tally.unsubscribed += 1,
                Skip::Held(status) => tally.held.add(status),
                // A dry-run ignores the delivery log; history rows are
                // the same reader again.
                Skip::Done(_) | Skip::History => {}
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
            },
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
    if tally.due == 0 {
        write_previews(&template.preview_unsubscribe_url().unwrap_or_default(), &[])?;
    }
    let written = match (staging, &args.out) {
        (Some(stage), Some(out)) => Some(stage.install(out)?),
        _ => None,
    };
    match &issue.title {
        // The public's name for it, and the subject readers get.
        Some(title) => println!(
            "Dry run of «{title}» (subject «{}»): nothing was sent.",
            crate::compose::render::shown(&parts.subject)
        ),
        None => println!(
            "Dry run of «{}»: nothing was sent.",
            crate::compose::render::shown(&parts.subject)
        ),
    }
    println!("  recipients:   {}", tally.due);
    if let Some(a) = &issue.audience {
        println!(
            "  audience:     {} of {} readers ({})",
            tally.due,
            tally.due + tally.outside,
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
            "  message size: {} bytes on average, {} at most (HTML {} bytes, text {} bytes)",
            average,
            tally.largest,
            parts.html.len(),
            parts.text.len()
        );
    }
    if let Some(out) = written {
        println!(
            "  written:      {} ({} .eml files, preview.html, preview.txt)",
            out.display(),
            tally.due
        );
    }
    if tally.invalid > 0 || tally.damaged > 0 {
        eprintln!(
            "{} invalid row(s) in {} were skipped{}; fix them so those readers get the issue",
            tally.invalid,
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
