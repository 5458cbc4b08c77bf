//! A running view of who is on the list: each address's last status, kept
//! current from the rows appended to the file since it was read, or read
//! again whole when the file was replaced (a rewrite renames a new one
//! over it). `serve` holds every address; a send holds only the changes
//! made after its snapshot, to skip readers who left meanwhile.

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::audience::consent::Standing;
use crate::audience::consent::scan_rows;
use crate::audience::list_file::{ListLock, lock_shared};
use crate::audience::rows::RowReader;
use crate::audience::standing::{Roster, Store};
use crate::audience::subscribers::{Columns, Snapshot};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Fingerprint;

pub struct ListWatch {
    path: PathBuf,
    /// The file read (device, inode) and how far: rows past `len` are new.
    /// The file is kept open: while it is, its inode cannot be given to a
    /// new file, so a rewrite renamed over the list always has another.
    file_id: Option<(u64, u64)>,
    open: Option<std::sync::Arc<std::fs::File>>,
    len: u64,
    /// The file's length when last looked at: past `len` when it ended in
    /// part of a row (a write under way, or one a crash left for the next
    /// writer to end), so that a poll does not read that part again and
    /// again.
    looked: u64,
    columns: Option<Columns>,
    last: Roster,
    /// Every address (`serve`), or only those with a change (a send).
    every: bool,
}

impl ListWatch {
    /// Every address's last status, read now. Call under the list's lock.
    pub fn load(path: &Path, lock: &ListLock) -> Result<Self, Diagnostic> {
        let mut watch = Self {
            path: path.to_path_buf(),
            file_id: None,
            open: None,
            len: 0,
            looked: 0,
            columns: None,
            last: Roster::default(),
            every: true,
        };
        watch.reload(lock)?;
        Ok(watch)
    }

    /// Only the changes appended after `snapshot` (from its last whole
    /// line: a row being written when it was taken is read once ended).
    pub fn after(snapshot: &Snapshot, columns: Columns) -> Self {
        let snapshot = snapshot.whole_lines().unwrap_or_else(|_| snapshot.clone());
        Self {
            path: snapshot.path().to_path_buf(),
            file_id: snapshot.file_id().ok(),
            open: Some(snapshot.file()),
            len: snapshot.len(),
            looked: snapshot.len(),
            columns: Some(columns),
            last: Roster::default(),
            every: false,
        }
    }

    /// The address's standing as read; `None` when not on the list (or,
    /// for a send's watch, not changed since the snapshot).
    pub fn standing(&self, key: Fingerprint) -> Option<Standing> {
        self.last.standing(&key)
    }

    /// Addresses known.
    pub fn readers(&self) -> usize {
        self.last.readers()
    }

    fn cannot(&self, e: io::Error) -> Diagnostic {
        Diagnostic::new(&self.path, None, format!("cannot be read: {e}"))
    }

    /// Whether the file is another or has another length than read: one
    /// `stat`.
    fn changed(&self) -> io::Result<bool> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                Ok(Some((meta.dev(), meta.ino())) != self.file_id || meta.len() != self.looked)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(self.file_id.is_some()),
            Err(e) => Err(e),
        }
    }

    /// Without the lock: a `stat`, and only when the file changed, the
    /// shared lock and a refresh.
    pub fn poll(&mut self) -> Result<(), Diagnostic> {
        if !self.changed().map_err(|e| self.cannot(e))? {
            return Ok(());
        }
        let lock = lock_shared(&self.path).map_err(|e| self.cannot(e))?;
        self.refresh(&lock)
    }

    /// Brings the view up to date. Call under the list's lock.
    pub fn refresh(&mut self, lock: &ListLock) -> Result<(), Diagnostic> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.last.clear();
                self.file_id = None;
                self.open = None;
                self.len = 0;
                self.looked = 0;
                return Ok(());
            }
            Err(e) => return Err(self.cannot(e)),
        };
        let same_file = Some((meta.dev(), meta.ino())) == self.file_id;
        if !same_file || meta.len() < self.len || self.columns.is_none() {
            return self.reload(lock);
        }
        if meta.len() > self.len {
            self.read_tail(meta.len())?;
        }
        self.looked = meta.len();
        Ok(())
    }

    /// The whole file again: a new file was renamed over the list.
    fn reload(&mut self, lock: &ListLock) -> Result<(), Diagnostic> {
        self.last.clear();
        if !self.path.exists() {
            self.file_id = None;
            self.open = None;
            self.len = 0;
            self.looked = 0;
            return Ok(());
        }
        let taken = Snapshot::take_locked(&self.path, lock)?;
        // A header alone without its line break is read as it is.
        let snapshot = match taken.whole_lines().map_err(|e| self.cannot(e))? {
            whole if whole.is_empty() => taken.clone(),
            whole => whole,
        };
        let mut reader = RowReader::new(snapshot.reader());
        let columns = Columns::read(&self.path, &mut reader)?;
        scan_rows(&mut reader, &columns, self.every, &mut self.last).map_err(|e| self.cannot(e))?;
        self.columns = Some(columns);
        self.file_id = snapshot.file_id().ok();
        self.open = Some(snapshot.file());
        self.len = snapshot.len();
        self.looked = taken.len();
        Ok(())
    }

    /// The rows appended since `self.len`, up to the last whole line.
    fn read_tail(&mut self, file_len: u64) -> Result<(), Diagnostic> {
        let file = match &self.open {
            Some(file) => file.clone(),
            None => {
                std::sync::Arc::new(std::fs::File::open(&self.path).map_err(|e| self.cannot(e))?)
            }
        };
        let mut bytes = vec![0u8; usize::try_from(file_len - self.len).unwrap_or(0)];
        file.read_exact_at(&mut bytes, self.len)
            .map_err(|e| self.cannot(e))?;
        let whole = memchr::memrchr(b'\n', &bytes).map_or(0, |i| i + 1);
        bytes.truncate(whole);
        let Some(columns) = self.columns.clone() else {
            return Ok(());
        };
        let mut reader = RowReader::starting_at(&bytes[..], 2, true);
        reader.set_width(columns.headers.len());
        scan_rows(&mut reader, &columns, self.every, &mut self.last).map_err(|e| self.cannot(e))?;
        self.len += whole as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::list_file::lock_exclusive;
    use crate::audience::subscribers::Status;
    use crate::input::email::Email;

    fn key(s: &str) -> Fingerprint {
        Email::parse(s).expect("email").fingerprint()
    }

    fn status(w: &ListWatch, s: &str) -> Option<Status> {
        w.standing(key(s)).map(|s| s.status)
    }

    #[test]
    fn appended_rows_and_a_replaced_file_are_both_seen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("list.csv");
        std::fs::write(
            &path,
            "email,name,status\nann@x.org,Ann,\nbob@x.org,,subscribed\n",
        )
        .expect("write");
        let snapshot = Snapshot::take(&path).expect("snapshot");
        let columns = crate::audience::subscribers::SubscriberFile::open(&snapshot)
            .expect("open")
            .columns()
            .clone();
        let lock = lock_exclusive(&path).expect("lock");
        let mut all = ListWatch::load(&path, &lock).expect("load");
        drop(lock);
        let mut changes = ListWatch::after(&snapshot, columns);
        assert_eq!(status(&all, "ann@x.org"), Some(Status::Subscribed));
        assert_eq!(status(&changes, "ann@x.org"), None);

        // An append, then half a row not yet finished: only whole rows count.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut f, b"ANN@x.org,,unsubscribed\ncy@x.org,,pend").expect("w");
        all.poll().expect("poll");
        changes.poll().expect("poll");
        for w in [&all, &changes] {
            assert_eq!(status(w, "ann@x.org"), Some(Status::Unsubscribed));
            assert_eq!(status(w, "cy@x.org"), None);
        }
        std::io::Write::write_all(&mut f, b"ing\n").expect("w");
        all.poll().expect("poll");
        assert_eq!(status(&all, "cy@x.org"), Some(Status::Pending));

        // A new file renamed over the list is read whole.
        let new = dir.path().join("new.csv");
        std::fs::write(&new, "email,status\nbob@x.org,unsubscribed\n").expect("write");
        std::fs::rename(&new, &path).expect("rename");
        all.poll().expect("poll");
        changes.poll().expect("poll");
        assert_eq!(status(&all, "ann@x.org"), None);
        assert_eq!(status(&all, "bob@x.org"), Some(Status::Unsubscribed));
        assert_eq!(status(&changes, "bob@x.org"), Some(Status::Unsubscribed));
        assert_eq!(all.readers(), 1);
    }
}
