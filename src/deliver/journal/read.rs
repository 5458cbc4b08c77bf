//! Reading a delivery log back for what it decides: each address's last
//! status, the sends a crash interrupted, the failures grouped by reply,
//! whether an issue went out, each relay's part. Rows come from
//! `record::each_row`, the one reader.

use std::collections::HashMap;
use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;

use super::record::{each_row, each_row_of};
use super::{JournalError, Status};
use crate::input::email::{Fingerprint, FingerprintMap, fingerprint_of};

/// What earlier runs recorded.
#[derive(Debug, Default)]
pub struct History {
    /// The fingerprint the last run started with.
    pub fingerprint: Option<String>,
    /// Each address's last status (by `key_fingerprint`).
    pub last: FingerprintMap<Status>,
    /// The address behind each `sending` row left without an outcome.
    pub interrupted: Vec<(String, String)>,
}

impl History {
    pub fn status(&self, fingerprint: Fingerprint) -> Option<Status> {
        self.last.get(&fingerprint).copied()
    }
}

/// Reads a delivery log without locking it (for `status`).
pub fn read_log(path: &Path) -> Result<History, JournalError> {
    let mut file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_history(path, &mut file)
}

/// Bytes a reader takes in a log: a `sending` and an outcome row, about
/// 100 bytes each. Sizing the map from this avoids growing it, which at a
/// million readers would hold the old and new tables at once.
const LOG_BYTES_PER_READER: u64 = 200;

pub(super) fn read_history(path: &Path, file: &mut File) -> Result<History, JournalError> {
    let estimate = file.metadata().map_or(0, |m| m.len()) / LOG_BYTES_PER_READER;
    let mut history = History {
        last: FingerprintMap::with_capacity_and_hasher(
            usize::try_from(estimate).unwrap_or(0),
            Default::default(),
        ),
        ..History::default()
    };
    let mut pending: FingerprintMap<(String, String)> = FingerprintMap::default();
    each_row_of(path, file, |row| {
        if row.status() == Status::Started {
            history.fingerprint = row.fingerprint().map(str::to_owned);
            return ControlFlow::Continue(());
        }
        let email = row.email();
        if email.is_empty() {
            // A wave's plan (`scheduled`): about no reader.
            return ControlFlow::Continue(());
        }
        // Addresses are logged as parsed: most are their own key already.
        let key = fingerprint_of(email);
        // A `sending` row only waits in the small `pending` map for its
        // outcome; the big map, whose every touch is a cache miss at a
        // million readers, sees outcomes only.
        if row.status() == Status::Sending {
            pending.insert(key, (email.to_owned(), row.message_id().to_owned()));
        } else {
            pending.remove(&key);
            history.last.insert(key, row.status());
        }
        ControlFlow::Continue(())
    })?;
    for key in pending.keys() {
        history.last.insert(*key, Status::Sending);
    }
    history.interrupted = pending.into_values().collect();
    history.interrupted.sort();
    Ok(history)
}

/// The readers whose last row is `failed`, grouped by their reply as
/// `pattern` gives it (addresses masked), most readers first; each group
/// with its readers per recipient domain, most first.
pub fn failures(
    path: &Path,
    pattern: impl Fn(&str, &str) -> String,
) -> Result<Vec<FailureGroup>, JournalError> {
    // Each failed reader points at its reply's pattern and its domain:
    // failures are few, and their replies and domains fewer.
    let mut failed: FingerprintMap<(usize, usize)> = FingerprintMap::default();
    let mut patterns = Interned::default();
    let mut domains = Interned::default();
    each_row(path, |row| {
        let email = row.email();
        if email.is_empty() || matches!(row.status(), Status::Started | Status::Sending) {
            return ControlFlow::Continue(());
        }
        let key = fingerprint_of(email);
        if row.status() == Status::Failed {
            let reply = patterns.index(pattern(row.detail(), email));
            let domain = domains.index(crate::deliver::refusal::domain_of(email));
            failed.insert(key, (reply, domain));
        } else {
            failed.remove(&key);
        }
        ControlFlow::Continue(())
    })?;
    let mut counts: Vec<std::collections::HashMap<usize, u64>> =
        vec![Default::default(); patterns.names.len()];
    for (reply, domain) in failed.values() {
        *counts[*reply].entry(*domain).or_default() += 1;
    }
    let mut groups: Vec<FailureGroup> = patterns
        .names
        .into_iter()
        .zip(counts)
        .filter(|(_, per)| !per.is_empty())
        .map(|(reply, per)| {
            let mut by_domain: Vec<(String, u64)> = per
                .into_iter()
                .map(|(d, n)| (domains.names[d].clone(), n))
                .collect();
            by_domain.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            FailureGroup {
                readers: by_domain.iter().map(|(_, n)| n).sum(),
                reply,
                domains: by_domain,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.readers
            .cmp(&a.readers)
            .then_with(|| a.reply.cmp(&b.reply))
    });
    Ok(groups)
}

/// Whether and when an issue was first sent, by its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSent {
    /// No `sent` row (or no log).
    Never,
    /// The time of the first `sent` row.
    At(std::time::SystemTime),
    /// Sent, but no `sent` row has a readable time (a hand-edited log).
    Undated,
}

/// When the issue was first sent: the time of the log's first `sent` row.
/// What the archive publishes by, and dates its feed entry by.
pub fn first_sent(path: &Path) -> Result<FirstSent, JournalError> {
    if !path.exists() || !super::record::is_log(path) {
        return Ok(FirstSent::Never);
    }
    let mut first = FirstSent::Never;
    each_row(path, |row| {
        if row.status() != Status::Sent {
            return ControlFlow::Continue(());
        }
        match row.at() {
            Some(at) => {
                first = FirstSent::At(at);
                ControlFlow::Break(())
            }
            None => {
                first = FirstSent::Undated;
                ControlFlow::Continue(())
            }
        }
    })?;
    Ok(first)
}

/// A wave of the latest scheduled run, as its `scheduled` row says, and
/// whether it has begun (a `started` row at or after its time followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWave {
    pub at: std::time::SystemTime,
    pub zones: Vec<String>,
    pub readers: u64,
    pub begun: bool,
}

/// The waves the last scheduled run of this log planned (each plan's rows
/// begin with its first wave, `wave=1/n`), each marked begun when a later
/// `started` row is stamped at or after its time. Empty for a log never
/// scheduled.
pub fn waves(path: &Path) -> Result<Vec<PlannedWave>, JournalError> {
    let mut plan: Vec<PlannedWave> = Vec::new();
    if !path.exists() {
        return Ok(plan);
    }
    each_row(path, |row| {
        match row.status() {
            Status::Scheduled => {
                if let Some((first, wave)) = parse_wave(row.detail()) {
                    if first {
                        plan.clear();
                    }
                    plan.push(wave);
                }
            }
            Status::Started => {
                if let Some(at) = row.at() {
                    for wave in &mut plan {
                        wave.begun |= at >= wave.at;
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    })?;
    Ok(plan)
}

/// The detail of a `scheduled` row: wave `index` (from 0) of `of`.
pub fn wave_detail(
    (index, of): (usize, usize),
    at: std::time::SystemTime,
    zones: &[String],
    readers: u64,
) -> String {
    format!(
        "wave={}/{of} at={} zones={} readers={readers}",
        index + 1,
        humantime::format_rfc3339_seconds(at),
        zones.join(",")
    )
}

/// A `scheduled` row's wave, and whether it is a plan's first.
fn parse_wave(detail: &str) -> Option<(bool, PlannedWave)> {
    let mut wave = PlannedWave {
        at: std::time::UNIX_EPOCH,
        zones: Vec::new(),
        readers: 0,
        begun: false,
    };
    let (mut timed, mut first) = (false, false);
    for part in detail.split_whitespace() {
        match part.split_once('=')? {
            ("wave", v) => first = v.split_once('/')?.0 == "1",
            ("at", v) => {
                wave.at = humantime::parse_rfc3339_weak(v).ok()?;
                timed = true;
            }
            ("zones", v) => wave.zones = v.split(',').map(str::to_owned).collect(),
            ("readers", v) => wave.readers = v.parse().ok()?,
            _ => {}
        }
    }
    timed.then_some((first, wave))
}

/// Each relay's readers in this log, by the status of their last row
/// (`sent`, `failed`): what `status` shows per relay.
pub fn per_relay(path: &Path) -> Result<HashMap<String, RelayPart>, JournalError> {
    let mut last: FingerprintMap<(Status, String)> = FingerprintMap::default();
    if path.exists() {
        each_row(path, |row| {
            if !row.email().is_empty() {
                last.insert(
                    fingerprint_of(row.email()),
                    (row.status(), row.relay().to_owned()),
                );
            }
            ControlFlow::Continue(())
        })?;
    }
    let mut parts: HashMap<String, RelayPart> = HashMap::new();
    for (status, relay) in last.into_values() {
        let part = parts.entry(relay).or_default();
        match status {
            Status::Sent => part.sent += 1,
            Status::Failed => part.failed += 1,
            _ => {}
        }
    }
    Ok(parts)
}

/// One relay's readers in a log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayPart {
    pub sent: u64,
    pub failed: u64,
}

/// Failed readers with the same reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    pub reply: String,
    pub readers: u64,
    /// Readers per recipient domain, most first.
    pub domains: Vec<(String, u64)>,
}

/// Strings numbered in the order first seen.
#[derive(Default)]
struct Interned {
    names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Interned {
    fn index(&mut self, name: String) -> usize {
        let next = self.names.len();
        let at = *self.index.entry(name.clone()).or_insert(next);
        if at == next {
            self.names.push(name);
        }
        at
    }
}
