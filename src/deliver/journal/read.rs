//! Reading a delivery log back: each address's last status, the sends a
//! crash interrupted, and the failures grouped by reply; only whole rows,
//! whatever a crash left at the end.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{JournalError, Status};
use crate::audience::list_file::undefuse;
use crate::input::email::{Fingerprint, FingerprintMap, key_fingerprint};

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

/// The whole rows of a log: reading stops at the first zero byte (the
/// space a running or crashed send grew ahead of its rows) and leaves out
/// a last row with no line end (torn by a crash, or still being written).
struct WholeRows<R> {
    inner: R,
    /// Read from `inner`; `data[at..ready]` is whole rows not yet returned,
    /// `data[ready..]` the start of a row whose end is not yet read.
    data: Vec<u8>,
    at: usize,
    ready: usize,
    done: bool,
}

impl<R: Read> WholeRows<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            data: Vec::with_capacity(1 << 16),
            at: 0,
            ready: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for WholeRows<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.ready && !self.done {
            self.data.drain(..self.ready);
            let kept = self.data.len();
            self.data.resize(kept + (1 << 16), 0);
            let n = self.inner.read(&mut self.data[kept..])?;
            self.data.truncate(kept + n);
            match memchr::memchr(0, &self.data[kept..]) {
                Some(zero) => {
                    self.data.truncate(kept + zero);
                    self.done = true;
                }
                None => self.done = n == 0,
            }
            self.at = 0;
            self.ready = memchr::memrchr(b'\n', &self.data).map_or(0, |i| i + 1);
        }
        let n = buf.len().min(self.ready - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The length of the whole rows `log` holds, read in pieces: a crashed
/// send's log can be far larger than the memory a resume may take.
pub(super) fn rows_len(log: impl Read) -> io::Result<u64> {
    io::copy(&mut WholeRows::new(log), &mut io::sink())
}

/// Bytes a reader takes in a log: a `sending` and an outcome row, about
/// 100 bytes each. Sizing the map from this avoids growing it, which at a
/// million readers would hold the old and new tables at once.
const LOG_BYTES_PER_READER: u64 = 200;

pub(super) fn read_history(path: &Path, file: &mut File) -> Result<History, JournalError> {
    let estimate = file.metadata().map_or(0, |m| m.len()) / LOG_BYTES_PER_READER;
    // Logs written before the `relay` column have a field less a row.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(WholeRows::new(file));
    let mut history = History {
        last: FingerprintMap::with_capacity_and_hasher(
            usize::try_from(estimate).unwrap_or(0),
            Default::default(),
        ),
        ..History::default()
    };
    let mut pending: FingerprintMap<(String, String)> = FingerprintMap::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(bad_row(path, line, e.to_string()));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let status = Status::parse(record.get(2).unwrap_or(""))
            .ok_or_else(|| bad_row(path, line, "unknown status".into()))?;
        let email = undefuse(record.get(1).unwrap_or(""));
        if status == Status::Started {
            history.fingerprint = record
                .get(5)
                .and_then(|d| d.strip_prefix("fingerprint="))
                .map(str::to_owned);
            continue;
        }
        // Addresses are logged as parsed: the domain is already lower case,
        // so most need no folding (and no copy) at all.
        let key = if email
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            key_fingerprint(&email.to_lowercase())
        } else {
            key_fingerprint(email)
        };
        // A `sending` row only waits in the small `pending` map for its
        // outcome; the big map, whose every touch is a cache miss at a
        // million readers, sees outcomes only.
        if status == Status::Sending {
            let id = record.get(6).unwrap_or("").to_owned();
            pending.insert(key, (email.to_owned(), id));
        } else {
            pending.remove(&key);
            history.last.insert(key, status);
        }
    }
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
    let mut file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Logs written before the `relay` column have a field less a row.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(WholeRows::new(&mut file));
    // Each failed reader points at its reply's pattern and its domain:
    // failures are few, and their replies and domains fewer.
    let mut failed: FingerprintMap<(usize, usize)> = FingerprintMap::default();
    let mut patterns = Interned::default();
    let mut domains = Interned::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(bad_row(path, line, e.to_string()));
            }
        }
        let email = undefuse(record.get(1).unwrap_or(""));
        let status = Status::parse(record.get(2).unwrap_or(""));
        if email.is_empty() || matches!(status, Some(Status::Started | Status::Sending)) {
            continue;
        }
        let key = key_fingerprint(&email.to_lowercase());
        if status == Some(Status::Failed) {
            let reply = patterns.index(pattern(undefuse(record.get(5).unwrap_or("")), email));
            let domain = domains.index(crate::deliver::refusal::domain_of(email));
            failed.insert(key, (reply, domain));
        } else {
            failed.remove(&key);
        }
    }
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

fn bad_row(path: &Path, line: u64, message: String) -> JournalError {
    JournalError::BadRow {
        path: path.to_path_buf(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_rows_before_the_zeros_are_read() {
        /// Hands out one byte a call, the hardest case for the adapter.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for (input, whole) in [
            (&b"a\nbc\nde"[..], &b"a\nbc\n"[..]),
            (b"a\nbc\n\0\0x\n", b"a\nbc\n"),
            (b"a\nb\0c\n", b"a\n"),
            (b"abc", b""),
            (b"", b""),
        ] {
            for mut reader in [
                Box::new(WholeRows::new(Trickle(input))) as Box<dyn Read>,
                Box::new(WholeRows::new(input)),
            ] {
                let mut out = Vec::new();
                reader.read_to_end(&mut out).expect("read");
                assert_eq!(out, whole, "{:?}", String::from_utf8_lossy(input));
            }
            assert_eq!(rows_len(Trickle(input)).expect("read"), whole.len() as u64);
        }
    }
}
