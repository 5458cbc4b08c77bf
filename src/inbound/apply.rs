//! From findings to the list: which reader and issue each is about (the
//! digest through the delivery logs, the token through the secret), the
//! bounce history kept beside the list, and the status rows appended.
//!
//! Order makes a crash harmless: the list rows, then the history rows
//! (which say the mail was processed), then the mail is marked for people.
//! A rerun after a crash before the history reads the same mail again and
//! finds the readers already changed; after it, passes over the mail. So
//! nothing counts twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::audience::consent::{self, Decision, Event as ConsentEvent, Standing, Why, decide};
use crate::audience::list_file::{self, Change, defuse, lock_exclusive, undefuse};
use crate::audience::subscribers::Status;
use crate::audience::unsubscribe::Unsubscriber;
use crate::deliver::refusal::Blame;
use crate::inbound::classify::{Mark, Recipients, What};
use crate::input::config::Bounces;
use crate::input::email::{Email, key_of};

/// What happened to one reader, as the history file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Their mailbox is gone.
    Hard,
    /// A temporary failure given up on, or a full mailbox.
    Soft,
    Complaint,
    Unsubscribe,
    /// Refused for a reason that is not theirs (policy, content,
    /// reputation, the relay): recorded with its reason, changes nobody.
    Refused,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Complaint => "complaint",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hard" => Kind::Hard,
            "soft" => Kind::Soft,
            "complaint" => Kind::Complaint,
            "unsubscribe" => Kind::Unsubscribe,
            "refused" => Kind::Refused,
            _ => return None,
        })
    }
}

/// One row of the history: a bounce, complaint or unsubscribe of a reader.
#[derive(Debug, Clone)]
pub struct Event {
    pub email: Email,
    pub kind: Kind,
    /// The issue it was about (the delivery log's name), if known.
    pub issue: String,
    pub status: String,
    pub detail: String,
    /// The mail it came from (its id), or `send:<issue>` for a refusal
    /// during a send: the same mail never counts twice.
    pub source: String,
    /// When it happened (the report's date, or the refusal's time): it
    /// changes a status only if newer than the reader's last change.
    pub at: SystemTime,
}

/// `<list>.bounces.csv` beside the list: the history that soft bounces are
/// counted from, and the reason behind each `bounced` row.
pub fn history_path(list: &Path) -> PathBuf {
    let stem = list.file_stem().unwrap_or_default().to_string_lossy();
    list.with_file_name(format!("{stem}.bounces.csv"))
}

const HEADER: &str = "time,email,kind,issue,status,detail,source\n";

/// Past events: each (time, email key, kind, issue, source).
struct History {
    rows: Vec<(SystemTime, String, Kind, String, String)>,
}

fn read_history(path: &Path) -> anyhow::Result<History> {
    let mut rows = Vec::new();
    if path.exists() {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(path)?;
        for record in reader.records().flatten() {
            let get = |i| undefuse(record.get(i).unwrap_or("")).to_owned();
            let (Ok(time), Some(kind)) =
                (humantime::parse_rfc3339_weak(&get(0)), Kind::parse(&get(2)))
            else {
                continue;
            };
            rows.push((time, key_of(&get(1)), kind, get(3), get(6)));
        }
    }
    Ok(History { rows })
}

/// Appends `events` to the history, in one write, synced.
fn append_history(path: &Path, events: &[&Event], now: SystemTime) -> anyhow::Result<()> {
    let fresh = !path.exists();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let time = humantime::format_rfc3339_seconds(now).to_string();
    for e in events {
        w.write_record(
            [
                time.as_str(),
                e.email.as_str(),
                e.kind.as_str(),
                &e.issue,
                &e.status,
                &e.detail,
                &e.source,
            ]
            .map(|f| defuse(f).into_owned()),
        )?;
    }
    let mut bytes = if fresh {
        HEADER.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    bytes.extend(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?);
    crate::audience::files::append_lines(path, &bytes)?;
    Ok(())
}

/// What a run changed (or, dry, would change).
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes {
    pub bounced: u64,
    pub complained: u64,
    pub unsubscribed: u64,
    /// Events older than the reader's last change of status (the editor
    /// brought them back since): recorded, not applied.
    pub outdated: u64,
}

/// A send's refusals about readers' mailboxes, recorded as returned mail
/// is: a mailbox that is gone makes its reader `bounced`, a full one
/// counts as a soft bounce (`audience::consent`). Every other refusal
/// changes nobody; the delivery log keeps its reply, and `status` groups
/// them by cause.
pub fn send_refusals(
    list: &Path,
    policy: &Bounces,
    refused: Vec<(Email, String, Blame)>,
    issue: &str,
    now: SystemTime,
) -> anyhow::Result<Changes> {
    let events: Vec<Event> = refused
        .into_iter()
        .map(|(email, detail, blame)| Event {
            email,
            kind: match blame {
                Blame::Mailbox => Kind::Hard,
                Blame::Full => Kind::Soft,
                _ => Kind::Refused,
            },
            issue: issue.to_owned(),
            status: crate::deliver::reply_status(&detail)
                .map(|(a, b, c)| format!("{a}.{b}.{c}"))
                .unwrap_or_default(),
            detail,
            source: format!("send:{issue}"),
            at: now,
        })
        .collect();
    apply(list, Some(policy), &events, now, false)
}

/// The mail already processed: every source the history names.
pub fn processed(list: &Path) -> anyhow::Result<HashSet<String>> {
    Ok(read_history(&history_path(list))?
        .rows
        .into_iter()
        .map(|(_, _, _, _, source)| source)
        .collect())
}

/// Records `events` (those not recorded before) and the status rows they
/// call for, under the list's lock. `dry_run` writes nothing.
pub fn apply(
    list: &Path,
    policy: Option<&Bounces>,
    events: &[Event],
    now: SystemTime,
    dry_run: bool,
) -> anyhow::Result<Changes> {
    let lock = lock_exclusive(list).map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?;
    let history_file = history_path(list);
    let history = read_history(&history_file)?;
    let known: HashSet<(String, String, Kind)> = history
        .rows
        .iter()
        .map(|(_, email, kind, _, source)| (source.clone(), email.clone(), *kind))
        .collect();
    let new: Vec<&Event> = events
        .iter()
        .filter(|e| !known.contains(&(e.source.clone(), e.email.key(), e.kind)))
        .collect();
    drop(known);
    let standings = list_file::standings(list, &lock)?;
    // Soft bounces: distinct issues within the window, old and new, and
    // only since the reader's last change of status (the editor's
    // `subscribe` starts their count afresh: events older than the
    // editor's last decision never count).
    let (limit, window) = policy.map_or((3, 30), |p| (p.soft_limit, p.soft_window_days));
    let since = now - Duration::from_secs(u64::from(window) * 86_400);
    let changed = |key: &str| {
        standings
            .get(&crate::input::email::key_fingerprint(key))
            .map_or(0, |s| s.changed)
    };
    let mut soft: HashMap<String, HashSet<String>> = HashMap::new();
    for (time, email, kind, issue, _) in &history.rows {
        if *kind == Kind::Soft && *time >= since && consent::secs(*time) > changed(email) {
            soft.entry(email.clone()).or_default().insert(issue.clone());
        }
    }
    for e in &new {
        let key = e.email.key();
        if e.kind == Kind::Soft && consent::secs(e.at) > changed(&key) {
            soft.entry(key).or_default().insert(e.issue.clone());
        }
    }
    let mut decided: HashMap<String, Standing> = HashMap::new();
    let mut changes = Vec::new();
    let mut done = Changes::default();
    for e in events {
        let key = e.email.key();
        let at = consent::secs(e.at);
        let event = match e.kind {
            Kind::Hard => ConsentEvent::Bounce { at },
            Kind::Soft if soft.get(&key).map_or(0, HashSet::len) >= limit as usize => {
                ConsentEvent::Bounce { at }
            }
            Kind::Complaint => ConsentEvent::Complaint { at },
            Kind::Unsubscribe => ConsentEvent::Unsubscribe,
            Kind::Soft | Kind::Refused => continue,
        };
        let current = decided
            .get(&key)
            .copied()
            .or_else(|| standings.get(&e.email.fingerprint()).copied());
        match decide(current.as_ref(), event) {
            Decision::Write(status) => {
                let mut next = current.unwrap_or(Standing::new(status, 0));
                next.fold(status, consent::secs(now), true);
                decided.insert(key, next);
                match status {
                    Status::Bounced => done.bounced += 1,
                    Status::Complained => done.complained += 1,
                    _ => done.unsubscribed += 1,
                }
                changes.push(Change {
                    email: e.email.clone(),
                    name: None,
                    status,
                    at: None,
                    tags: None,
                    lang: None,
                    adds_lang_column: false,
                });
            }
            Decision::Keep(Why::Outdated) => done.outdated += 1,
            Decision::Keep(_) => {}
        }
    }
    if !dry_run && !changes.is_empty() {
        list_file::record(list, &lock, &changes, now)?;
    }
    // The history last: it is what says a mail was processed, so a crash
    // before it leaves the mail to be read again (and the rows above are
    // then found already there).
    if !dry_run && !new.is_empty() {
        append_history(&history_file, &new, now)?;
    }
    Ok(done)
}

/// Which reader and issue each digest stands for, from the delivery logs
/// (`journal::every_log`): only the digests asked for are kept. A log that
/// cannot be read is passed over (said on stderr): the other logs still
/// name their readers.
pub fn readers_by_digest(
    logs: &[(String, PathBuf)],
    wanted: &HashSet<String>,
) -> HashMap<String, (Email, String)> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    for (issue, file) in logs {
        let read = crate::deliver::journal::each_row(file, |row| {
            let digest = row
                .message_id()
                .trim_start_matches('<')
                .split('@')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if digest.len() == 32
                && wanted.contains(&digest)
                && let Ok(email) = Email::parse(row.email())
            {
                found.insert(digest, (email, issue.clone()));
            }
            std::ops::ControlFlow::Continue(())
        });
        if let Err(e) = read {
            eprintln!("{e}");
        }
    }
    found
}

/// Which reader each VERP reader part stands for: every address on the
/// list, its reader part computed (only when a mailbox holds such marks).
/// And which issue each issue part stands for, from the delivery logs'
/// names; an issue not found there goes by `issue-{part}`.
pub struct VerpIndex {
    readers: HashMap<String, Email>,
    issues: HashMap<String, String>,
}

impl VerpIndex {
    pub fn build(
        list: &Path,
        logs: &[(String, PathBuf)],
        tokens: &Unsubscriber,
        wanted: &HashSet<String>,
    ) -> anyhow::Result<Self> {
        let mut readers = HashMap::new();
        if !wanted.is_empty() && list.exists() {
            let snap = crate::audience::subscribers::Snapshot::take(list)?;
            for s in crate::audience::subscribers::SubscriberFile::open(&snap)?.flatten() {
                if let Some(part) = tokens.verp_reader(&s.email)
                    && wanted.contains(&part)
                {
                    readers.entry(part).or_insert(s.email);
                }
            }
        }
        let mut issues = HashMap::new();
        for (issue, _) in logs {
            if let Some(part) = tokens.verp_issue(issue) {
                issues.insert(part, issue.clone());
            }
        }
        Ok(Self { readers, issues })
    }

    fn resolve(&self, reader: &str, issue: &str) -> Option<(Email, String)> {
        let email = self.readers.get(reader)?.clone();
        let issue = self
            .issues
            .get(issue)
            .cloned()
            .unwrap_or_else(|| format!("issue-{issue}"));
        Some((email, issue))
    }
}

/// The reader a finding's mark names.
pub fn resolve(
    mark: &Mark,
    by_digest: &HashMap<String, (Email, String)>,
    verp: Option<&VerpIndex>,
    tokens: Option<&Unsubscriber>,
) -> Option<(Email, String)> {
    match mark {
        Mark::Digest(d) => by_digest.get(d).cloned(),
        Mark::Verp { reader, issue } => verp?.resolve(reader, issue),
        Mark::Token(t) => tokens?.verify(t).map(|email| (email, String::new())),
    }
}

/// Whether a report's named recipients (if it names any) include the
/// reader: as written, or with the domain as the A-label we sent to.
pub fn names_reader(recipients: &Recipients, email: &Email) -> bool {
    recipients.is_empty()
        || recipients.contains(email.as_str())
        || recipients.contains(&email.envelope().to_string())
}

/// The kind a finding is recorded as.
pub fn kind_of(what: What) -> Kind {
    match what {
        What::Hard => Kind::Hard,
        What::Soft => Kind::Soft,
        What::Refused => Kind::Refused,
        What::Complaint => Kind::Complaint,
        What::Unsubscribe => Kind::Unsubscribe,
    }
}
