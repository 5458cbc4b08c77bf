//! `bulletin subscribe`, `unsubscribe` and `list`: changes to the list, each
//! under its lock, and a count of who is on it.

use std::path::Path;

use anyhow::bail;

use crate::Outcome;
use crate::audience::consent::{Decision, Event, Why, decide};
use crate::audience::details::Folded;
use crate::audience::list_file::{self, lock_exclusive};
use crate::audience::subscribers::{Snapshot, Status};
use crate::audience::tags;
use crate::audience::unsubscribe::Unsubscriber;
use crate::cli::{SubscribeArgs, UnsubscribeArgs};
use crate::input::checked::Line;
use crate::input::config::Config;
use crate::input::email::Email;

fn parse_name(name: Option<&str>) -> anyhow::Result<Option<Line>> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) => Line::parse(n)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("--name {why}")),
    }
}

pub fn run(config_path: &Path, args: &SubscribeArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let list = &config.newsletter.subscribers;
    if let Some(file) = &args.from {
        return import(list, file, args.skip_invalid);
    }
    let Some(raw) = &args.email else {
        bail!("give an address, or --from FILE");
    };
    let email = Email::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = parse_name(args.name.as_deref())?;
    let lock = lock_exclusive(list).map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?;
    let now = list_file::standings(list, &lock)?
        .get(&email.fingerprint())
        .copied();
    // `--tag`: added to the reader's tags (their latest tagged row's).
    let wanted = tags::canonical(args.tags.iter().map(String::as_str));
    let (had, merged) = if wanted.is_empty() || !list.exists() {
        (String::new(), wanted.clone())
    } else {
        let snap = Snapshot::take_locked(list, &lock)?;
        let had = Folded::read(&snap, false)?
            .tags
            .of(&email.fingerprint())
            .to_owned();
        let merged = tags::canonical([had.as_str(), wanted.as_str()]);
        (had, merged)
    };
    let tags = (!wanted.is_empty()).then_some(merged.clone());
    match decide(now.as_ref(), Event::EditorSubscribe) {
        Decision::Keep(_) if tags.is_none() || merged == had => {
            println!("{email} is already subscribed; nothing written")
        }
        Decision::Keep(_) => {
            let change = list_file::Change {
                email: email.clone(),
                name,
                status: Status::Subscribed,
                at: None,
                tags,
                lang: None,
                adds_lang_column: false,
            };
            list_file::record(list, &lock, &[change], crate::now()?)?;
            println!(
                "{email} is subscribed, tagged {}",
                merged.replace(';', ", ")
            );
        }
        Decision::Write(status) => {
            let change = list_file::Change {
                email: email.clone(),
                name,
                status,
                at: None,
                tags,
                lang: None,
                adds_lang_column: false,
            };
            list_file::record(list, &lock, &[change], crate::now()?)?;
            let was = match now.map(|s| (s.status, s.signing_up())) {
                None => {
                    println!("{email} subscribed");
                    return Ok(Outcome::Success);
                }
                Some((Status::Unsubscribed, _)) => "had unsubscribed",
                Some((Status::Bounced, _)) => "had bounced",
                Some((Status::Complained, _)) => "had reported the newsletter as spam",
                Some((_, true)) => "had not confirmed a sign-up",
                Some(_) => "had a row that could not be read",
            };
            println!("{email} {was} and is subscribed again");
        }
    }
    Ok(Outcome::Success)
}

/// `subscribe --from FILE`: each reader of the file (their rows folded,
/// `audience::import`) decided against the list by the one table: new
/// subscribed readers added, suppressions recorded (never as subscribed),
/// everyone else left as they are. Rows appended under the lock, in one
/// write; nothing written when a row is bad (unless `--skip-invalid`).
fn import(list: &Path, file: &Path, skip_invalid: bool) -> anyhow::Result<Outcome> {
    let read = crate::audience::import::read(file)?;
    for d in &read.invalid {
        eprintln!("{d}");
    }
    if !read.invalid.is_empty() && !skip_invalid {
        bail!(
            "{}: {}; nothing imported. Fix them, or pass --skip-invalid to import the rest",
            file.display(),
            crate::count(read.invalid.len() as u64, "invalid row", "invalid rows")
        );
    }
    let lock = lock_exclusive(list).map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?;
    let on_list = list_file::standings(list, &lock)?;
    let mut counts = ImportCounts::default();
    let mut changes = Vec::new();
    for r in read.requests {
        let event = match r.status {
            Status::Subscribed => Event::Import,
            Status::Pending => {
                counts.never += 1;
                continue;
            }
            suppressed => Event::ImportSuppressed(suppressed),
        };
        match decide(on_list.get(&r.email.fingerprint()), event) {
            Decision::Write(status) => {
                counts.add(status);
                changes.push(list_file::Change {
                    email: r.email,
                    name: r.name,
                    status,
                    at: None,
                    tags: r.tags,
                    lang: None,
                    adds_lang_column: false,
                });
            }
            Decision::Keep(Why::StillPending) => counts.pending += 1,
            Decision::Keep(Why::Left) => counts.left += 1,
            Decision::Keep(_) => counts.already += 1,
        }
    }
    if !changes.is_empty() {
        list_file::record(list, &lock, &changes, crate::now()?)?;
    }
    println!(
        "{}: {counts}, {} folded into an earlier one of the same reader, {} invalid",
        file.display(),
        crate::count(read.folded, "row", "rows"),
        read.invalid.len()
    );
    // Skipping was asked for: the rows skipped are named above (stderr),
    // and what was written is a success (exit 1 means nothing written).
    Ok(Outcome::Success)
}

/// What an import did, by status.
#[derive(Debug, Default)]
struct ImportCounts {
    subscribed: u64,
    unsubscribed: u64,
    bounced: u64,
    complained: u64,
    /// On the list and subscribed already.
    already: u64,
    /// On the list and suppressed: left as they are.
    left: u64,
    /// On the list with a sign-up waiting: left as they are.
    pending: u64,
    /// Never subscribed (pending, transactional, archived): not imported.
    never: u64,
}

impl ImportCounts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Subscribed => self.subscribed += 1,
            Status::Unsubscribed => self.unsubscribed += 1,
            Status::Bounced => self.bounced += 1,
            Status::Complained => self.complained += 1,
            Status::Pending => {}
        }
    }
}

impl std::fmt::Display for ImportCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} added as subscribed", self.subscribed)?;
        for (n, what) in [
            (self.unsubscribed, "unsubscribed"),
            (self.bounced, "bounced"),
            (self.complained, "complained"),
        ] {
            if n > 0 {
                write!(f, ", {n} added as {what} (never mailed)")?;
            }
        }
        write!(
            f,
            ", {} already subscribed, {} unsubscribed earlier (left as they are)",
            self.already, self.left
        )?;
        if self.pending > 0 {
            write!(
                f,
                ", {} pending confirmation (left as they are)",
                self.pending
            )?;
        }
        if self.never > 0 {
            write!(
                f,
                ", {} never subscribed (pending, transactional): not imported",
                self.never
            )?;
        }
        Ok(())
    }
}

pub fn unsubscribe(config_path: &Path, args: &UnsubscribeArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let list = &config.newsletter.subscribers;
    let email = match (&args.email, &args.token) {
        (Some(raw), _) => Email::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?,
        (None, Some(token)) => {
            let unsub = Unsubscriber::from_config(&config, true)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no [unsubscribe] section, so there are no tokens to check",
                    config.path.display()
                )
            })?;
            unsub
                .verify(token)
                .ok_or_else(|| anyhow::anyhow!("the token is not valid for this list"))?
        }
        (None, None) => bail!("give an address, or --token TOKEN"),
    };
    let lock = lock_exclusive(list).map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?;
    let now = list_file::standings(list, &lock)?
        .get(&email.fingerprint())
        .copied();
    match (decide(now.as_ref(), Event::Unsubscribe), now) {
        (Decision::Write(status), _) => {
            let change = list_file::Change {
                email: email.clone(),
                name: None,
                status,
                at: None,
                tags: None,
                lang: None,
                adds_lang_column: false,
            };
            list_file::record(list, &lock, &[change], crate::now()?)?;
            println!("{email} unsubscribed");
        }
        (_, None) => bail!("{email} is not on {}", list.display()),
        (_, Some(s)) if s.status == Status::Unsubscribed => {
            println!("{email} was already unsubscribed")
        }
        (_, Some(_)) => {
            println!("{email} is not mailed anyway (bounced or complained); nothing written")
        }
    }
    Ok(Outcome::Success)
}
