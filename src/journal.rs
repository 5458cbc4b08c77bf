//! The delivery log: one CSV per issue, appended row by row and synced
//! before anything depends on it, read back to resume a send.
//!
//! Before each attempt hands a message to the server, a `sending` row is
//! synced; after it, the outcome. A `sending` row with no outcome after it
//! means the run died mid-message, and the next run records it `unknown`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::list_file::{defuse, undefuse};
use crate::subscribers::{Fingerprint, FingerprintMap, key_fingerprint};

pub const HEADER: &str = "timestamp,email,status,attempts,code,detail,message_id\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A run began; `detail` holds the rendered issue's fingerprint.
    Started,
    /// An attempt is about to hand the message to the server.
    Sending,
    /// A transient failure; another attempt follows in this run.
    Retry,
    Sent,
    /// Transient failures used up every attempt; a rerun tries again.
    Deferred,
    /// Permanently refused (5xx) for this reader.
    Failed,
    /// The connection dropped after the message was handed over: it may
    /// have arrived. Resent only with `--resend-unknown`.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Sending => "sending",
            Status::Retry => "retry",
            Status::Sent => "sent",
            Status::Deferred => "deferred",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "started" => Status::Started,
            "sending" => Status::Sending,
            "retry" => Status::Retry,
            "sent" => Status::Sent,
            "deferred" => Status::Deferred,
            "failed" => Status::Failed,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub email: String,
    pub status: Status,
    pub attempts: u32,
    pub code: Option<u16>,
    pub detail: String,
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: another `bulletin send` is using this delivery log; wait for it to finish", .0.display())]
    Busy(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}:{line}: {message}", path.display())]
    BadRow {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

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

/// The log file, open for appending and locked against other senders for
/// as long as this value lives.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Busy(path.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
        };
        journal.repair().map_err(io_err)?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drops a row torn by a crash mid-write (it was never synced, so
    /// nothing acted on it) and writes the header into a new file.
    fn repair(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            self.file.write_all(HEADER.as_bytes())?;
            return self.file.sync_data();
        }
        let mut last = [0u8; 1];
        self.file.seek(SeekFrom::Start(len - 1))?;
        self.file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            let mut all = Vec::new();
            self.file.seek(SeekFrom::Start(0))?;
            self.file.read_to_end(&mut all)?;
            let keep = all.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            self.file.set_len(keep as u64)?;
            self.file.sync_data()?;
        }
        Ok(())
    }

    pub fn read_history(&mut self) -> Result<History, JournalError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        read_history(&self.path, &mut self.file)
    }

    /// Appends whole rows and syncs them to disk before returning.
    pub fn append(&mut self, rows: &[Row]) -> io::Result<()> {
        self.write(rows)?;
        self.sync()
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Appends whole rows to the file without syncing them.
    pub fn write(&mut self, rows: &[Row]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(rows.len() * 160);
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut buf);
            for r in rows {
                let attempts = r.attempts.to_string();
                let code = r.code.map(|c| c.to_string()).unwrap_or_default();
                w.write_record([
                    now.as_str(),
                    &defuse(&r.email),
                    r.status.as_str(),
                    &attempts,
                    &code,
                    &defuse(&r.detail),
                    &r.message_id,
                ])
                .map_err(io::Error::other)?;
            }
            w.flush()?;
        }
        self.file.write_all(&buf)
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

fn read_history(path: &Path, file: &mut File) -> Result<History, JournalError> {
    let estimate = file.metadata().map_or(0, |m| m.len()) / LOG_BYTES_PER_READER;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(io::BufReader::with_capacity(1 << 16, file));
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

    fn row(email: &str, status: Status) -> Row {
        Row {
            email: email.into(),
            status,
            attempts: 1,
            code: Some(250),
            detail: "2.0.0 Ok".into(),
            message_id: "<x@example.org>".into(),
        }
    }

    #[test]
    fn the_last_row_of_an_address_decides_and_open_sends_are_interrupted() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("logs/issue.csv");
        {
            let mut j = Journal::open(&path).expect("open");
            j.append(&[
                Row {
                    email: String::new(),
                    status: Status::Started,
                    attempts: 0,
                    code: None,
                    detail: "fingerprint=abc".into(),
                    message_id: String::new(),
                },
                row("a@example.org", Status::Sending),
                row("a@example.org", Status::Retry),
                row("a@example.org", Status::Sending),
                row("A@example.org", Status::Sent),
                row("b@example.org", Status::Sending),
                row("=c@example.org", Status::Failed),
            ])
            .expect("append");
        }
        let h = read_log(&path).expect("read");
        assert_eq!(h.fingerprint.as_deref(), Some("abc"));
        assert_eq!(
            h.status(key_fingerprint("a@example.org")),
            Some(Status::Sent)
        );
        assert_eq!(
            h.status(key_fingerprint("=c@example.org")),
            Some(Status::Failed)
        );
        assert_eq!(
            h.interrupted,
            vec![("b@example.org".to_string(), "<x@example.org>".to_string())]
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(HEADER));
        assert!(text.contains(",'=c@example.org,failed,"), "{text}");
    }

    #[test]
    fn a_row_torn_by_a_crash_is_dropped_on_open() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("issue.csv");
        std::fs::write(
            &path,
            format!("{HEADER}t,a@example.org,sent,1,250,ok,<i>\nt,b@exa"),
        )
        .expect("w");
        let mut j = Journal::open(&path).expect("open");
        let h = j.read_history().expect("history");
        assert_eq!(h.last.len(), 1);
        j.append(&[row("c@example.org", Status::Sent)])
            .expect("append");
        assert_eq!(read_log(&path).expect("read").last.len(), 2);
    }

    #[test]
    fn a_second_sender_is_refused_while_the_first_holds_the_log() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("issue.csv");
        let _first = Journal::open(&path).expect("open");
        assert!(matches!(Journal::open(&path), Err(JournalError::Busy(_))));
    }
}
