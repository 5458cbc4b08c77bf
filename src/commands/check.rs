//! `bulletin check`: every problem in the config, the issue and the list,
//! one `path:line: message` line each.

use std::path::Path;

use crate::Outcome;
use crate::audience::subscribers::Snapshot;
use crate::cli::CheckArgs;
use crate::commands::prepare;
use crate::compose::compliance;
use crate::deliver::plan::{self, Entry, Skip};
use crate::input::config::Config;
use crate::input::diagnostic::Diagnostic;
use crate::input::issue::Issue;

/// One finding of `check --json`.
#[derive(serde::Serialize)]
struct Finding {
    file: String,
    line: Option<usize>,
    message: String,
}

impl From<&Diagnostic> for Finding {
    fn from(d: &Diagnostic) -> Self {
        Self {
            file: d.path.display().to_string(),
            line: d.line,
            message: d.message.clone(),
        }
    }
}

/// What `check --json` prints: the documented shape (docs/reference.md, "Scripting").
#[derive(serde::Serialize)]
struct Report {
    ok: bool,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
    /// The lines `check` prints when all is well (readers, fields, the
    /// issue's subject and sizes).
    summary: Vec<String>,
}

pub fn run(config_path: &Path, args: &CheckArgs) -> anyhow::Result<Outcome> {
    // Problems and warnings: said on stderr as found, or gathered for
    // --json.
    let errors = std::cell::RefCell::new(Vec::<Finding>::new());
    let warnings = std::cell::RefCell::new(Vec::<Finding>::new());
    let warn = |d: &Diagnostic| {
        if !args.json {
            crate::commands::paint::say(d);
        }
        warnings.borrow_mut().push(d.into());
    };
    let report = |d: &Diagnostic| {
        if !args.json {
            crate::commands::paint::say(d);
        }
        errors.borrow_mut().push(d.into());
    };
    let config = Config::load(config_path);
    let issue = Issue::load(&args.issue);
    if let Err(ds) = &config {
        ds.0.iter().for_each(report);
    }
    if let Err(ds) = &issue {
        ds.0.iter().for_each(report);
    }

    let mut summary = Vec::new();
    // A personalised subject, as the first reader gets it.
    let mut first_subject: Option<String> = None;
    let mut readers = 0u64;
    if let Ok(config) = &config {
        let list = &config.newsletter.subscribers;
        let audience = issue.as_ref().ok().and_then(|i| i.audience.clone());
        // The issue rendered (its fields each a column of the list), so
        // every reader's fields can be tried below.
        let prepared = match &issue {
            Ok(issue) => match prepare(config, issue, false) {
                Ok(prepared) => Some(prepared),
                Err(e) => {
                    match e.downcast_ref::<crate::input::diagnostic::Diagnostics>() {
                        Some(ds) => ds.0.iter().for_each(report),
                        None => report(&Diagnostic::new(&args.issue, None, format!("{e:#}"))),
                    }
                    None
                }
            },
            Err(_) => None,
        };
        let personal = prepared.as_ref().filter(|(_, t)| t.is_personal());
        let mut unfilled = crate::commands::UnfilledReaders::default();
        // A `timezone` column (for `send --at … --local`) is checked
        // reader by reader: an unknown zone is an error at its line.
        let columns = Snapshot::take(list)
            .and_then(|snap| crate::audience::subscribers::SubscriberFile::open(&snap))
            .ok()
            .map(|f| f.columns().clone());
        let zone_column = columns.as_ref().and_then(|c| c.timezone);
        // A `lang` column: how many readers get each language, and a row
        // whose tag is not one named (that reader gets the newsletter's).
        let lang_column = columns.as_ref().and_then(|c| c.lang);
        let langs = prepared
            .as_ref()
            .map(|(_, t)| t.langs())
            .unwrap_or_default();
        let mut by_lang = vec![0u64; langs.len()];
        let mut zones = crate::input::when::ZoneNames::default();
        match Snapshot::take(list).and_then(|snap| {
            plan::recipients(
                &snap,
                audience.as_ref(),
                personal.is_some() || zone_column.is_some() || lang_column.is_some(),
            )
        }) {
            Err(d) => report(&d),
            Ok(entries) => {
                let (mut due, mut skipped, mut outside) = (0u64, 0u64, 0u64);
                let mut held = plan::Held::default();
                for entry in entries {
                    match entry {
                        Entry::Due(s) => {
                            due += 1;
                            if let Some(tag) = lang_column
                                .and_then(|c| s.row.as_ref()?.get(c))
                                .filter(|t| !t.trim().is_empty() && s.lang.is_none())
                            {
                                warn(&Diagnostic::new(
                                    list,
                                    Some(s.line as usize),
                                    format!(
                                        "warning: {}: `lang` {tag:?} is not a language tag (such as \"ja\" or \"pt-BR\"); they get the newsletter's ({})",
                                        s.email, config.newsletter.lang
                                    ),
                                ));
                            }
                            if let Some((_, template)) = &prepared {
                                let own = template.for_reader(s.lang.as_ref());
                                let chosen =
                                    langs.iter().position(|l| std::ptr::eq(*l, own.langs()[0]));
                                if let Some(n) = chosen.and_then(|i| by_lang.get_mut(i)) {
                                    *n += 1;
                                }
                            }
                            if let Some(why) = zone_column
                                .and_then(|c| s.row.as_ref()?.get(c).cloned())
                                .and_then(|zone| zones.unknown(&zone))
                            {
                                report(&Diagnostic::new(list, Some(s.line as usize), why));
                            }
                            if let Some((_, template)) = personal {
                                unfilled.check(template, list, &s);
                                if first_subject.is_none() {
                                    // In that reader's language, as they
                                    // get it.
                                    let own = template.for_reader(s.lang.as_ref());
                                    first_subject = prepared.as_ref().map(|_| {
                                        crate::commands::subject_for_editor(
                                            &own.subject_source(),
                                            own,
                                            Some(crate::compose::message::Recipient {
                                                email: &s.email,
                                                name: s.name.as_ref(),
                                                row: s.row.as_ref(),
                                            }),
                                        )
                                    });
                                }
                            }
                        }
                        Entry::Skipped {
                            reason: Skip::History,
                            ..
                        } => {}
                        Entry::Skipped {
                            reason: Skip::OutOfAudience,
                            ..
                        } => outside += 1,
                        Entry::Skipped { line, reason, .. } => {
                            skipped += 1;
                            if let Skip::Held(status) = reason {
                                held.add(status);
                            }
                            match reason {
                                Skip::Invalid(message) => {
                                    report(&Diagnostic::new(list, Some(line as usize), message))
                                }
                                Skip::Duplicate(email) => warn(&Diagnostic::new(
                                    list,
                                    Some(line as usize),
                                    format!(
                                        "warning: {email} is listed earlier too; it gets one copy"
                                    ),
                                )),
                                Skip::Damaged(bad) => report(&Diagnostic::new(
                                    list,
                                    Some(line as usize),
                                    format!(
                                        "this reader is not mailed: their row at line {bad} cannot be read; fix or remove it"
                                    ),
                                )),
                                Skip::Unsubscribed
                                | Skip::Held(_)
                                | Skip::History
                                | Skip::OutOfAudience
                                | Skip::Done(_) => {}
                            }
                        }
                    }
                }
                readers = due;
                if !unfilled.is_empty() {
                    unfilled.shown.iter().for_each(report);
                    let more = unfilled.count - unfilled.shown.len() as u64;
                    if more > 0 {
                        report(&Diagnostic::new(
                            list,
                            None,
                            format!(
                                "… and {} whose fields cannot be filled in",
                                crate::count(more, "more reader", "more readers")
                            ),
                        ));
                    }
                }
                // "2 pending, 1 bounced, " -> " (2 pending, 1 bounced)".
                let held = match held.to_string().trim_end_matches([',', ' ']) {
                    "" => String::new(),
                    some => format!(" ({some})"),
                };
                summary.push(format!(
                    "{}: {due} to send, {skipped} skipped{held}",
                    list.display()
                ));
                if langs.len() > 1 {
                    let parts: Vec<String> = langs
                        .iter()
                        .zip(&by_lang)
                        .map(|(l, n)| format!("{l} {n}"))
                        .collect();
                    summary.push(format!("languages: {}", parts.join(", ")));
                }
                if let Some(a) = &audience {
                    summary.push(format!(
                        "audience: {due} of {} readers ({})",
                        due + outside,
                        a.describe()
                    ));
                }
            }
        }
        if let (Ok(issue), Some((parts, template))) = (&issue, &prepared) {
            for w in compliance::warnings(config, issue, readers) {
                let warning = Diagnostic::new(&config.path, None, format!("warning: {w}"));
                if args.strict {
                    report(&warning);
                } else {
                    warn(&warning);
                }
            }
            if let Some(archive) = &config.archive
                && issue.archive
            {
                let page = crate::commands::archive::default_dir(config)
                    .join(&issue.id)
                    .join("index.html");
                if !page.exists() {
                    warn(&Diagnostic::new(
                        &config.path,
                        None,
                        format!(
                            "warning: every message links to {} (\"View in browser\"), which is not published yet ({} is missing); a send that completes publishes it, or run `bulletin archive --issue {}`",
                            archive.page_url(&issue.id),
                            page.display(),
                            args.issue.display()
                        ),
                    ));
                }
            }
            if template.is_personal() {
                summary.push(format!(
                    "fields: {} (filled in for every reader)",
                    personal_fields(template)
                ));
            }
            summary.push(format!(
                "{}: {}, {} {}, {}",
                args.issue.display(),
                first_subject
                    .clone()
                    .unwrap_or_else(|| crate::commands::subject_for_editor(
                        &parts.subject,
                        template,
                        None
                    )),
                issue.stories.len(),
                crate::commands::plural(issue.stories.len(), "story", "stories"),
                crate::commands::part_sizes(parts)
            ));
        }
    }

    // The sender's DNS, when asked: each finding a line (ok ones in the
    // summary), problems counted as problems.
    if args.dns
        && let Ok(config) = &config
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        match runtime.block_on(crate::commands::dns::findings(config, args.resolver)) {
            Ok(found) => {
                for f in found {
                    let say = |what: &str| {
                        Diagnostic::new(&config.path, None, format!("{what}dns: {}", f.text))
                    };
                    match f.level {
                        crate::commands::dns::Level::Ok => summary.push(format!("dns: {}", f.text)),
                        crate::commands::dns::Level::Warning => warn(&say("warning: ")),
                        crate::commands::dns::Level::Error => report(&say("error: ")),
                    }
                }
            }
            Err(e) => report(&Diagnostic::new(&config.path, None, format!("dns: {e:#}"))),
        }
    }
    let (errors, warnings) = (errors.into_inner(), warnings.into_inner());
    let outcome = if errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Problems
    };
    if args.json {
        let report = Report {
            ok: errors.is_empty(),
            errors,
            warnings,
            summary,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(outcome);
    }
    let counted = |n: usize, one: &'static str, many: &'static str| {
        format!("{n} {}", crate::commands::plural(n, one, many))
    };
    if !errors.is_empty() {
        match warnings.len() {
            0 => eprintln!("{} found", counted(errors.len(), "problem", "problems")),
            w => eprintln!(
                "{} and {} found",
                counted(errors.len(), "problem", "problems"),
                counted(w, "warning", "warnings")
            ),
        }
        return Ok(outcome);
    }
    for line in summary {
        println!("{line}");
    }
    match warnings.len() {
        0 => println!("ok"),
        w => println!("ok, {} (above)", counted(w, "warning", "warnings")),
    }
    Ok(outcome)
}

/// "name, first_name": the fields an issue uses.
fn personal_fields(template: &crate::compose::message::Template) -> String {
    template.field_names().join(", ")
}
