//! The delivery log's rows as every reader reads them: the columns by
//! name, the status parsed once, only whole rows (whatever a crash left at
//! the end). No other code splits a log line.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::SystemTime;

use super::{JournalError, LogRow, Status};
use crate::audience::list_file::undefuse;

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

/// The delivery log's columns, by name: the one place that knows their
/// order (`HEADER`).
mod col {
    pub const TIMESTAMP: usize = 0;
    pub const EMAIL: usize = 1;
    pub const STATUS: usize = 2;
    pub const ATTEMPTS: usize = 3;
    pub const CODE: usize = 4;
    pub const DETAIL: usize = 5;
    pub const MESSAGE_ID: usize = 6;
    /// Logs written before it have a field less a row.
    pub const RELAY: usize = 7;
}

/// One row of a delivery log as read back: its columns by name, over the
/// record csv read (no copy). The status is parsed already (a row with an
/// unknown status is an error at its line, for every reader alike).
pub struct LogRecord<'a> {
    record: &'a csv::StringRecord,
    status: Status,
}

impl LogRecord<'_> {
    /// When the row was written; `None` if the field is not a time.
    pub fn at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(self.field(col::TIMESTAMP)).ok()
    }

    /// The address as logged (a defused `'` taken off); empty on a
    /// `started` row.
    pub fn email(&self) -> &str {
        undefuse(self.field(col::EMAIL))
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn attempts(&self) -> u32 {
        self.field(col::ATTEMPTS).parse().unwrap_or(0)
    }

    pub fn code(&self) -> Option<u16> {
        self.field(col::CODE).parse().ok()
    }

    /// The server's reply, or a note (`fingerprint=…` on a `started` row).
    pub fn detail(&self) -> &str {
        undefuse(self.field(col::DETAIL))
    }

    pub fn message_id(&self) -> &str {
        self.field(col::MESSAGE_ID)
    }

    /// The relay the message went to; empty in logs written before the
    /// column, and on rows not about a message.
    pub fn relay(&self) -> &str {
        self.field(col::RELAY)
    }

    /// The fingerprint, on a `started` row.
    pub fn fingerprint(&self) -> Option<&str> {
        (self.status == Status::Started)
            .then(|| self.field(col::DETAIL).strip_prefix("fingerprint="))
            .flatten()
    }

    /// The row as the writer takes it.
    pub fn to_row(&self) -> LogRow {
        LogRow {
            email: self.email().to_owned(),
            status: self.status,
            attempts: self.attempts(),
            code: self.code(),
            detail: self.detail().to_owned(),
            message_id: self.message_id().to_owned(),
            relay: self.relay().to_owned(),
        }
    }

    fn field(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }
}

/// Whether `header` is a delivery log's (any version of it).
fn is_log_header(header: &csv::StringRecord) -> bool {
    header.get(col::TIMESTAMP) == Some("timestamp")
        && header.get(col::EMAIL) == Some("email")
        && header.get(col::STATUS) == Some("status")
}

/// Whether the file at `path` starts with a delivery log's header.
pub fn is_log(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(io::BufReader::new(file).take(4096));
    reader.headers().is_ok_and(is_log_header)
}

/// Reads every whole row of the log at `path` in order, handing each to
/// `visit` until it says `Break`: the one reader of delivery logs (resume,
/// `status`, quotas, `archive`, `bounces` all come here). A file that is
/// not a delivery log, a row csv cannot read or an unknown status is an
/// error naming the file (and line).
pub fn each_row(
    path: &Path,
    visit: impl FnMut(&LogRecord) -> ControlFlow<()>,
) -> Result<(), JournalError> {
    let mut file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    each_row_of(path, &mut file, visit)
}

pub(super) fn each_row_of(
    path: &Path,
    file: &mut File,
    mut visit: impl FnMut(&LogRecord) -> ControlFlow<()>,
) -> Result<(), JournalError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(WholeRows::new(file));
    match reader.headers() {
        Ok(h) if h.is_empty() || is_log_header(h) => {}
        Ok(h) => {
            return Err(bad_row(
                path,
                1,
                format!(
                    "is not a delivery log (its header is {:?})",
                    h.iter().collect::<Vec<_>>().join(",")
                ),
            ));
        }
        Err(e) => return Err(bad_row(path, 1, e.to_string())),
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(bad_row(path, line, e.to_string()));
            }
        }
        let status = Status::parse(record.get(col::STATUS).unwrap_or("")).ok_or_else(|| {
            let line = record.position().map_or(0, |p| p.line());
            bad_row(
                path,
                line,
                format!("unknown status {:?}", record.get(col::STATUS).unwrap_or("")),
            )
        })?;
        if visit(&LogRecord {
            record: &record,
            status,
        })
        .is_break()
        {
            return Ok(());
        }
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
