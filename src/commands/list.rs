//! `bulletin list`: the readers as they stand (how many, or each with
//! their status, name, tags and since when, for people or as JSON), one
//! reader's history, and `--compact`.

use std::io::Write;
use std::path::Path;

use crate::Outcome;
use crate::audience::details::Folded;
use crate::audience::list_file::lock_exclusive;
use crate::audience::subscribers::{Snapshot, Status, SubscriberFile};
use crate::audience::view::Reader;
use crate::cli::ListArgs;
use crate::input::config::Config;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Email;

/// `bulletin list`: how many readers stand how (the default), or the
/// readers themselves as they stand (`--all`, `--status`, `--tag`,
/// `--json`), or one reader's rows (`--history EMAIL`).
pub fn run(config_path: &Path, args: &ListArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let path = &config.newsletter.subscribers;
    if args.compact {
        return compact(&config);
    }
    let snap = Snapshot::take(path)?;
    if let Some(email) = &args.history {
        return history(path, &snap, email);
    }
    if args.all || args.json || !args.status.is_empty() || !args.tag.is_empty() {
        return readers(&snap, args);
    }
    let mut invalid = 0u64;
    for row in SubscriberFile::open(&snap)? {
        match row {
            Ok(_) => {}
            Err(bad) => {
                invalid += 1;
                eprintln!(
                    "{}",
                    Diagnostic::new(path, Some(bad.line as usize), bad.message)
                );
            }
        }
    }
    // Readers counted by their standing, as a send reads it.
    let Folded {
        standings, tags, ..
    } = Folded::read(&snap, true)?;
    let count = |status| {
        standings
            .values()
            .filter(|s| s.status == status && s.damaged == 0)
            .count()
    };
    let mut held = crate::deliver::plan::Held::default();
    let (mut damaged, mut signing_up) = (0u64, 0u64);
    for s in standings.values() {
        if s.damaged != 0 {
            damaged += 1;
        } else {
            held.add(s.status);
            if s.suppressed() && s.signing_up() {
                signing_up += 1;
            }
        }
    }
    let signing_up = if signing_up > 0 {
        format!(" ({signing_up} of whom signed up again, not yet confirmed)")
    } else {
        String::new()
    };
    let unmailed = crate::audience::outbox::side_mail(path, &standings)?;
    // Subscribed readers per tag, most first.
    let mut per_tag: std::collections::BTreeMap<String, u64> = Default::default();
    for (key, tags) in tags.readers() {
        if standings.get(key).is_some_and(|s| s.mailed()) {
            for tag in tags.split(';') {
                *per_tag.entry(tag.to_owned()).or_default() += 1;
            }
        }
    }
    println!(
        "{}: {} subscribed, {} unsubscribed{signing_up}, {held}{invalid} invalid{}{unmailed}",
        path.display(),
        count(Status::Subscribed),
        count(Status::Unsubscribed),
        crate::deliver::plan::damaged_note(damaged),
    );
    if !per_tag.is_empty() {
        let mut tags: Vec<(String, u64)> = per_tag.into_iter().collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let shown: Vec<String> = tags.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!("  subscribed readers by tag: {}", shown.join(", "));
    }
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Problems
    })
}

/// Each reader as they stand, filtered by `--status` and `--tag`: a
/// header and a tab-separated line each, or a JSON array.
fn readers(snap: &Snapshot, args: &ListArgs) -> anyhow::Result<Outcome> {
    let wanted = |r: &Reader| {
        (args.status.is_empty() || args.status.iter().any(|s| s.eq_ignore_ascii_case(r.status)))
            && args.tag.iter().all(|t| {
                let t = t.trim().to_lowercase();
                r.tags.split(';').any(|have| have == t)
            })
    };
    let shown = crate::audience::view::readers(snap)?.filter(wanted);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let all: Vec<Reader> = shown.collect();
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "email\tname\tstatus\ttags\tsince")?;
    for r in shown {
        let status = match r.held_by {
            Some(line) => format!("held (line {line} cannot be read)"),
            None if r.signing_up => format!("{} (signing up)", r.status),
            None => r.status.to_owned(),
        };
        writeln!(
            out,
            "{}\t{}\t{status}\t{}\t{}",
            r.email,
            r.name,
            r.tags,
            r.since.as_deref().unwrap_or("")
        )?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// `list --history EMAIL`: every row of one reader, as the list holds
/// them (line, status, name, time).
fn history(path: &Path, snap: &Snapshot, email: &str) -> anyhow::Result<Outcome> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--history: {e}"))?;
    let key = email.key();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "line\tstatus\tname\tchanged")?;
    let mut found = 0u64;
    for s in SubscriberFile::open(snap)?.filter_map(Result::ok) {
        if s.email.key() != key {
            continue;
        }
        found += 1;
        let changed = (s.changed != 0).then(|| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(s.changed)),
            )
            .to_string()
        });
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            s.line,
            s.status.as_str(),
            s.name.as_ref().map_or("", |n| n.as_str()),
            changed.as_deref().unwrap_or("")
        )?;
    }
    out.flush()?;
    if found == 0 {
        anyhow::bail!("{}: {email} is not on the list", path.display());
    }
    Ok(Outcome::Success)
}

/// `list --compact`: one row per reader, expired sign-ups dropped.
fn compact(config: &Config) -> anyhow::Result<Outcome> {
    let path = &config.newsletter.subscribers;
    let lock = lock_exclusive(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let expiry = config
        .serve
        .as_ref()
        .map_or(crate::input::config::CONFIRM_EXPIRY, |s| s.confirm_expiry);
    let done = crate::audience::compact::compact(path, &lock, expiry, crate::now()?)?;
    println!(
        "{}: {}, one row each; {} folded in, {} past their expiry dropped, {} kept as they are",
        path.display(),
        crate::count(done.readers as u64, "reader", "readers"),
        crate::count(done.folded as u64, "older row", "older rows"),
        crate::count(
            done.expired as u64,
            "unconfirmed sign-up",
            "unconfirmed sign-ups"
        ),
        crate::count(done.damaged as u64, "unreadable line", "unreadable lines")
    );
    Ok(Outcome::Success)
}
