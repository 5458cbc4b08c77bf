//! From findings to the list: which reader and issue each is about (the
//! digest through the delivery logs, the token through the secret), the
//! bounce history kept beside the list, and the status rows appended.
//!
//! Order makes a crash harmless: the history rows, then the list rows,
//! then the mail is marked done. A rerun after a crash reads the same mail
//! again, finds its history rows already there (by the mail's id) and the
//! readers already changed, so it counts nothing twice.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::audience::list_file::{self, Change, defuse, lock_exclusive, undefuse};
use crate::audience::subscribers::Status;
use crate::audience::unsubscribe::Unsubscriber;
use crate::inbound::classify::{Finding, Mark};
use crate::input::config::Bounces;
use crate::input::email::Email;

/// What happened to one reader, as the history file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Hard,
    Soft,
    Complaint,
    Unsubscribe,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Complaint => "complaint",
            Kind::Unsubscribe => "unsubscribe",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hard" => Kind::Hard,
            "soft" => Kind::Soft,
            "complaint" => Kind::Complaint,
            "unsubscribe" => Kind::Unsubscribe,
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
            rows.push((time, get(1).to_lowercase(), kind, get(3), get(6)));
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
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(())
}

/// What a run changed (or, dry, would change).
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes {
    pub bounced: u64,
    pub complained: u64,
    pub unsubscribed: u64,
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
    if !dry_run && !new.is_empty() {
        append_history(&history_file, &new, now)?;
    }
    // Soft bounces: distinct issues within the window, old and new.
    let (limit, window) = policy.map_or((3, 30), |p| (p.soft_limit, p.soft_window_days));
    let since = now - Duration::from_secs(u64::from(window) * 86_400);
    let mut soft: HashMap<String, HashSet<String>> = HashMap::new();
    for (time, email, kind, issue, _) in &history.rows {
        if *kind == Kind::Soft && *time >= since {
            soft.entry(email.clone()).or_default().insert(issue.clone());
        }
    }
    for e in &new {
        if e.kind == Kind::Soft {
            soft.entry(e.email.key())
                .or_default()
                .insert(e.issue.clone());
        }
    }
    let statuses = list_file::statuses(list, &lock)?;
    let mut now_status: HashMap<String, Status> = HashMap::new();
    let mut changes = Vec::new();
    let mut done = Changes::default();
    for e in events {
        let key = e.email.key();
        let Some(current) = now_status
            .get(&key)
            .copied()
            .or_else(|| statuses.get(&e.email.fingerprint()).copied())
        else {
            continue;
        };
        let mailed = matches!(current, Status::Subscribed | Status::Pending);
        let to = match e.kind {
            Kind::Hard if mailed => Some(Status::Bounced),
            Kind::Soft if mailed && soft.get(&key).map_or(0, HashSet::len) >= limit as usize => {
                Some(Status::Bounced)
            }
            Kind::Complaint if current != Status::Complained => Some(Status::Complained),
            Kind::Unsubscribe if mailed => Some(Status::Unsubscribed),
            _ => None,
        };
        if let Some(status) = to {
            now_status.insert(key, status);
            match status {
                Status::Bounced => done.bounced += 1,
                Status::Complained => done.complained += 1,
                _ => done.unsubscribed += 1,
            }
            changes.push(Change {
                email: e.email.clone(),
                name: None,
                status,
            });
        }
    }
    if !dry_run && !changes.is_empty() {
        list_file::record(list, &lock, &changes, now)?;
    }
    Ok(done)
}

/// Which reader and issue each digest stands for, from the delivery logs
/// in `logs` (every `*.csv`): only the digests asked for are kept.
pub fn readers_by_digest(
    logs: &Path,
    wanted: &HashSet<String>,
) -> anyhow::Result<HashMap<String, (Email, String)>> {
    let mut found = HashMap::new();
    if wanted.is_empty() || !logs.is_dir() {
        return Ok(found);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(logs)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    for file in files {
        let issue = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // Streamed: logs are big. One being written ends in zeros, which
        // read as no address and are passed over.
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(&file)?;
        for record in reader.records().flatten() {
            let id = record.get(6).unwrap_or("");
            let digest = id.trim_start_matches('<').split('@').next().unwrap_or("");
            if digest.len() == 32
                && wanted.contains(&digest.to_ascii_lowercase())
                && let Ok(email) = Email::parse(undefuse(record.get(1).unwrap_or("")))
            {
                found.insert(digest.to_ascii_lowercase(), (email, issue.clone()));
            }
        }
    }
    Ok(found)
}

/// The reader a finding's mark names.
pub fn resolve(
    mark: &Mark,
    by_digest: &HashMap<String, (Email, String)>,
    tokens: Option<&Unsubscriber>,
) -> Option<(Email, String)> {
    match mark {
        Mark::Digest(d) => by_digest.get(d).cloned(),
        Mark::Token(t) => tokens?.verify(t).map(|email| (email, String::new())),
    }
}

/// The kind, status and detail of a finding that is about a reader.
pub fn kind_of(finding: &Finding) -> Option<(Kind, &Mark, String, String)> {
    match finding {
        Finding::Hard {
            mark,
            status,
            detail,
        } => Some((Kind::Hard, mark, status.clone(), detail.clone())),
        Finding::Soft {
            mark,
            status,
            detail,
        } => Some((Kind::Soft, mark, status.clone(), detail.clone())),
        Finding::Complaint { mark } => Some((Kind::Complaint, mark, String::new(), String::new())),
        Finding::Unsubscribe { mark } => {
            Some((Kind::Unsubscribe, mark, String::new(), String::new()))
        }
        Finding::NotOurs(_) => None,
    }
}
