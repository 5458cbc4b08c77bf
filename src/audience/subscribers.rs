//! The subscriber list, a CSV file, read as a stream of checked rows,
//! each bad row reported with its line; and each address's standing,
//! folded from its rows by the rules of `consent`.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audience::consent::{Standing, judge, scan_rows};
use crate::audience::rows::{Row, RowReader};
use crate::input::checked::Line;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, FingerprintMap};

/// A row's `status`. The last row of an address decides its status:
/// bulletin records every change as a new row at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Mailed every issue (also an empty field).
    Subscribed,
    /// Left; never mailed again unless they subscribe anew.
    Unsubscribed,
    /// Signed up on the web, not yet confirmed: never mailed an issue.
    Pending,
    /// Their address bounced for good (or softly, too often).
    Bounced,
    /// They reported an issue as spam.
    Complained,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
            Status::Pending => "pending",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
        }
    }

    /// The field as written (case and spaces aside); empty is subscribed.
    pub fn parse(field: &str) -> Option<Self> {
        match field.trim().to_ascii_lowercase().as_str() {
            "" | "subscribed" => Some(Status::Subscribed),
            "unsubscribed" => Some(Status::Unsubscribed),
            "pending" => Some(Status::Pending),
            "bounced" => Some(Status::Bounced),
            "complained" => Some(Status::Complained),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The row's line in the file, 1-based (the header is line 1).
    pub line: u64,
    pub email: Email,
    pub name: Option<Line>,
    pub status: Status,
    /// When bulletin wrote the row (`changed`, Unix seconds); 0 for a row
    /// without a time (typed by hand).
    pub changed: u32,
    /// Every field of the row (trimmed), kept when the issue has
    /// per-reader fields (`SubscriberFile::keeping_rows`).
    pub row: Option<Arc<[Box<str>]>>,
    /// Their language (`lang` column), when it holds a well-formed tag;
    /// a reader without one reads the newsletter's (`check` names rows
    /// whose tag is not one).
    pub lang: Option<crate::input::lang::Lang>,
}

/// A row that could not be read as a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

/// The list as it was at one moment: the file as opened (a later rename
/// over it does not reach this handle) up to its length then (a later
/// append is not seen). Every pass of a send reads the same snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    path: PathBuf,
    file: Arc<File>,
    len: u64,
}

impl Snapshot {
    /// Takes the list lock shared for the moment of opening, so no rewrite
    /// or append is half done.
    pub fn take(path: &Path) -> Result<Self, Diagnostic> {
        let cannot = |e: io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
        let shared = crate::audience::list_file::lock_shared(path).map_err(cannot)?;
        Self::take_locked(path, &shared)
    }

    /// For a caller that already holds the list's lock (shared or exclusive).
    pub fn take_locked(
        path: &Path,
        _lock: &crate::audience::list_file::ListLock,
    ) -> Result<Self, Diagnostic> {
        let cannot = |e: io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
        let file = File::open(path).map_err(cannot)?;
        let len = file.metadata().map_err(cannot)?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file: Arc::new(file),
            len,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which file this is (device and inode): a rewrite renamed over the
    /// list makes another.
    pub fn file_id(&self) -> io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata()?;
        Ok((meta.dev(), meta.ino()))
    }

    /// The file the snapshot is of, open.
    pub fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// The snapshot's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same snapshot up to its last line break: what a view that
    /// follows the file reads, so that it always stops at a line's start
    /// (a last line without its break is read once it is ended).
    pub fn whole_lines(&self) -> io::Result<Self> {
        let mut end = self.len;
        let mut block = vec![0u8; 1 << 16];
        while end > 0 {
            let from = end.saturating_sub(block.len() as u64);
            let chunk = &mut block[..usize::try_from(end - from).unwrap_or(0)];
            self.file.read_exact_at(chunk, from)?;
            if let Some(i) = memchr::memrchr(b'\n', chunk) {
                end = from + i as u64 + 1;
                break;
            }
            end = from;
        }
        Ok(Self {
            path: self.path.clone(),
            file: self.file.clone(),
            len: end,
        })
    }

    /// A fresh reader from the start of the snapshot.
    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader {
            file: self.file.clone(),
            pos: 0,
            len: self.len,
        }
    }
}

/// Reads a snapshot by position, so passes never share a file offset.
pub struct SnapshotReader {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The list's header row and where its known columns are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub headers: Vec<String>,
    pub email: usize,
    pub name: Option<usize>,
    pub status: Option<usize>,
    /// When the row was written by bulletin (RFC 3339); pending rows
    /// expire by it.
    pub changed: Option<usize>,
    /// The reader's tags (`japan; korea`), for audiences.
    pub tags: Option<usize>,
    /// The reader's IANA time zone, for `send --at … --local`.
    pub timezone: Option<usize>,
    /// The reader's language (BCP 47), for an issue with translations.
    pub lang: Option<usize>,
}

impl Columns {
    /// The columns named by the header row (line 1).
    pub fn from_row(path: &Path, header: &Row) -> Result<Self, Diagnostic> {
        let headers: Vec<String> = header.strings();
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let email = find("email").ok_or_else(|| {
            Diagnostic::new(
                path,
                Some(1),
                "the header row has no `email` column (expected email,name,status)",
            )
        })?;
        if header.damage.is_some() {
            return Err(Diagnostic::new(
                path,
                Some(1),
                format!(
                    "the header row {}",
                    header.damage.map_or("", |d| d.describe())
                ),
            ));
        }
        Ok(Self {
            email,
            name: find("name"),
            status: find("status"),
            changed: find("changed"),
            tags: find("tags"),
            timezone: find("timezone"),
            lang: find("lang"),
            headers,
        })
    }

    /// Reads the header row of `reader`.
    pub fn read<R: Read>(path: &Path, reader: &mut RowReader<R>) -> Result<Self, Diagnostic> {
        let mut header = Row::default();
        match reader.read(&mut header) {
            Ok(true) => Self::from_row(path, &header),
            Ok(false) => Err(Diagnostic::new(
                path,
                Some(1),
                "is empty: the first line must be a header row (email,name,status)",
            )),
            Err(e) => Err(Diagnostic::new(path, None, format!("cannot be read: {e}"))),
        }
    }

    /// The header of a list bulletin creates.
    pub fn new_list() -> Self {
        Self {
            headers: vec![
                "email".into(),
                "name".into(),
                "status".into(),
                "changed".into(),
            ],
            email: 0,
            name: Some(1),
            status: Some(2),
            changed: Some(3),
            tags: None,
            timezone: None,
            lang: None,
        }
    }
}

/// The list, open and past its header row.
pub struct SubscriberFile {
    path: PathBuf,
    reader: RowReader<SnapshotReader>,
    columns: Columns,
    row: Row,
    /// Set after an I/O error: the rest of the file cannot be read.
    ended: bool,
    /// Whether each subscriber carries its row's fields.
    keep_rows: bool,
}

impl SubscriberFile {
    pub fn open(snapshot: &Snapshot) -> Result<Self, Diagnostic> {
        let path = snapshot.path();
        let mut reader = RowReader::new(snapshot.reader());
        let columns = Columns::read(path, &mut reader)?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            columns,
            row: Row::default(),
            ended: false,
            keep_rows: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Each subscriber with every field of its row (`Subscriber::row`).
    #[must_use]
    pub fn keeping_rows(mut self, keep: bool) -> Self {
        self.keep_rows = keep;
        self
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Each address's standing, for the addresses whose standing is not
    /// plainly `subscribed` (everyone else is): the cheap first pass of a
    /// send.
    pub fn standings(mut self) -> Result<FingerprintMap<Standing>, Diagnostic> {
        let mut map = FingerprintMap::default();
        scan_rows(&mut self.reader, &self.columns, false, &mut map)
            .map_err(|e| Diagnostic::new(&self.path, None, format!("cannot be read: {e}")))?;
        Ok(map)
    }

    /// Every address's standing.
    pub fn all_standings(mut self) -> Result<FingerprintMap<Standing>, Diagnostic> {
        let mut map = FingerprintMap::default();
        scan_rows(&mut self.reader, &self.columns, true, &mut map)
            .map_err(|e| Diagnostic::new(&self.path, None, format!("cannot be read: {e}")))?;
        Ok(map)
    }

    fn parse_row(&self) -> Result<Subscriber, BadRow> {
        let line = self.row.line;
        let bad = |message: String| BadRow { line, message };
        let judged = judge(&self.row, &self.columns);
        let (status, _, changed) = judged.says.map_err(bad)?;
        let field = |i: Option<usize>| {
            crate::audience::list_file::undefuse(i.and_then(|i| self.row.text(i)).unwrap_or(""))
        };
        let email = Email::parse(field(Some(self.columns.email))).map_err(bad)?;
        let name = match field(self.columns.name) {
            "" => None,
            n => Some(Line::parse(n).map_err(|why| bad(format!("name {why}")))?),
        };
        let row = self.keep_rows.then(|| {
            (0..self.row.len())
                .map(|i| {
                    Box::from(crate::audience::list_file::undefuse(
                        self.row.text(i).unwrap_or(""),
                    ))
                })
                .collect()
        });
        let lang = match field(self.columns.lang) {
            "" => None,
            tag => crate::input::lang::Lang::parse(tag).ok(),
        };
        Ok(Subscriber {
            line,
            email,
            name,
            status,
            changed,
            row,
            lang,
        })
    }
}

impl Iterator for SubscriberFile {
    type Item = Result<Subscriber, BadRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match self.reader.read(&mut self.row) {
            Ok(true) => Some(self.parse_row()),
            Ok(false) => None,
            Err(e) => {
                self.ended = true;
                Some(Err(BadRow {
                    line: self.row.line + 1,
                    message: format!("cannot be read: {e}"),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_lower_cases_the_domain_and_keeps_the_local_part() {
        let e = Email::parse("  Alice.Smith@Example.ORG ").expect("valid");
        assert_eq!(e.as_str(), "Alice.Smith@example.org");
        assert_eq!(e.key(), "alice.smith@example.org");
    }

    #[test]
    fn an_international_domain_goes_on_the_wire_as_its_a_label() {
        let e = Email::parse("Bob@BÜCHER.de").expect("valid");
        assert_eq!(e.as_str(), "Bob@bücher.de");
        assert_eq!(e.envelope().to_string(), "Bob@xn--bcher-kva.de");
        assert!(e.envelope().user().is_ascii());
        let ascii = Email::parse("ann@example.org").expect("valid");
        assert!(matches!(ascii.envelope(), std::borrow::Cow::Borrowed(_)));
        let utf8 = Email::parse("jürgen@example.de").expect("valid");
        assert!(!utf8.envelope().user().is_ascii());
        assert_eq!(utf8.envelope().to_string(), "jürgen@example.de");
    }

    #[test]
    fn line_numbers_count_crlf_blank_lines_and_quoted_line_breaks() {
        let text = "\u{feff}email,name,note\r\na@x.org,A\r\n\r\nb@x.org,B,\"two\r\nlines\"\r\nc@x.org,C,n,extra\r\nd@x.org\n\ne@x.org,E\n";
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("list.csv");
        std::fs::write(&path, text).expect("write");
        let snap = Snapshot::take(&path).expect("snapshot");
        let lines: Vec<(u64, bool)> = SubscriberFile::open(&snap)
            .expect("open")
            .map(|r| match r {
                Ok(s) => (s.line, true),
                Err(b) => (b.line, false),
            })
            .collect();
        // A field may not run past its line: line 4 opens a quote it does
        // not close, and line 5 is a row of its own (not a reader).
        assert_eq!(
            lines,
            vec![
                (2, true),
                (4, false),
                (5, false),
                (6, false),
                (7, true),
                (9, true)
            ]
        );
    }

    #[test]
    fn email_refuses_what_is_not_an_address() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "a b@example.org",
            "a@exa mple.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
