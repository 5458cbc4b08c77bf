//! Changing the subscriber list without ever damaging it: every change
//! holds an exclusive lock, an append writes whole rows in one write, and
//! anything else rewrites a synced temporary file and renames it over.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audience::subscribers::{Columns, Snapshot, Status, SubscriberFile};
use crate::input::checked::Line;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, FingerprintMap};

/// The lock is a file beside the list: the list itself is replaced by
/// renames, and a lock on a replaced file would guard nothing.
fn lock_path(list: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(list.file_name().unwrap_or_default());
    name.push(".lock");
    list.with_file_name(name)
}

fn open_lock(list: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(list))
}

/// Held while the list is changed; released when dropped.
pub struct ListLock {
    _file: File,
}

/// The prefix of a rewrite's temporary file, beside the list. It names
/// the list, so a leftover is known to be this list's.
fn temp_prefix(list: &Path) -> String {
    format!(
        ".{}.rewrite-",
        list.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Waits for every other change to finish, then keeps others out. A
/// temporary file that a killed rewrite left is removed: no rewrite can be
/// under way while the lock is held.
pub fn lock_exclusive(list: &Path) -> io::Result<ListLock> {
    let file = open_lock(list)?;
    file.lock()?;
    let prefix = temp_prefix(list);
    if let Ok(entries) = std::fs::read_dir(list_dir(list)) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(ListLock { _file: file })
}

fn list_dir(list: &Path) -> PathBuf {
    match list.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Waits until no change is under way; changes wait while this is held.
pub fn lock_shared(list: &Path) -> io::Result<ListLock> {
    let file = open_lock(list)?;
    file.lock_shared()?;
    Ok(ListLock { _file: file })
}

/// Whether a spreadsheet would run `s` as a formula once the quotes that
/// `defuse` adds are taken off: it starts, after any `'`, with `=`, `+`,
/// `-`, `@`, tab or CR.
fn formula_like(s: &str) -> bool {
    s.trim_start_matches('\'')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Spreadsheets run a cell starting with `=`, `+`, `-`, `@`, tab or CR as
/// a formula (OWASP "CSV injection"); a leading `'` keeps it text. A value
/// that already starts with `'` before such a character (a name typed as
/// `'=x`) gets one more, so that reading it back gives `'=x`, not `=x`.
pub fn defuse(s: &str) -> Cow<'_, str> {
    if formula_like(s) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Undoes `defuse` when reading a field back: one `'` comes off a field
/// that `defuse` would have quoted.
pub fn undefuse(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => s,
    }
}

/// The list's columns, or `None` for a list not yet created.
fn read_columns(list: &Path, lock: &ListLock) -> Result<Option<Columns>, Diagnostic> {
    if !list.exists() {
        return Ok(None);
    }
    let snap = Snapshot::take_locked(list, lock)?;
    Ok(Some(SubscriberFile::open(&snap)?.columns().clone()))
}

/// One row in the list's shape: `status` in the status column and, when
/// the list has one, the time in the `changed` column.
fn new_row(
    columns: &Columns,
    email: &Email,
    name: Option<&Line>,
    status: Status,
    at: SystemTime,
) -> Vec<String> {
    let mut row = vec![String::new(); columns.headers.len()];
    row[columns.email] = email.to_string();
    if let (Some(i), Some(n)) = (columns.name, name) {
        row[i] = n.to_string();
    }
    if let Some(i) = columns.status {
        row[i] = status.as_str().into();
    }
    if let Some(i) = columns.changed {
        row[i] = humantime::format_rfc3339_seconds(at).to_string();
    }
    row
}

fn csv_line(fields: &[String]) -> io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| defuse(f).into_owned()))
        .map_err(io::Error::other)?;
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

/// Each address's last status in the list (by `key_fingerprint`).
pub fn statuses(list: &Path, lock: &ListLock) -> Result<FingerprintMap<Status>, Diagnostic> {
    let mut map = FingerprintMap::default();
    if !list.exists() {
        return Ok(map);
    }
    let snap = Snapshot::take_locked(list, lock)?;
    for s in SubscriberFile::open(&snap)?.flatten() {
        map.insert(s.email.fingerprint(), s.status);
    }
    Ok(map)
}

/// One status change to record: a row appended for `email`.
#[derive(Debug, Clone)]
pub struct Change {
    pub email: Email,
    pub name: Option<Line>,
    pub status: Status,
}

/// Appends new subscribers as whole rows in one write, then syncs. The
/// caller has checked, under the same lock, that they are not on the list.
pub fn append(
    list: &Path,
    lock: &ListLock,
    new: &[(Email, Option<Line>)],
) -> Result<(), Diagnostic> {
    let changes: Vec<Change> = new
        .iter()
        .map(|(email, name)| Change {
            email: email.clone(),
            name: name.clone(),
            status: Status::Subscribed,
        })
        .collect();
    record(list, lock, &changes, SystemTime::now())
}

/// Records status changes as rows appended at the end, in one write, then
/// synced: the last row of an address decides its status, so a change
/// never rewrites the file (a one-click unsubscribe on a list of a million
/// rows costs one small write). A list without a `status` column gets one
/// first, by a rewrite.
pub fn record(
    list: &Path,
    lock: &ListLock,
    changes: &[Change],
    at: SystemTime,
) -> Result<(), Diagnostic> {
    let io_err = |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
    let mut columns = read_columns(list, lock)?;
    if columns.as_ref().is_some_and(|c| c.status.is_none())
        && changes.iter().any(|c| c.status != Status::Subscribed)
    {
        rewrite(list, lock, |_, _, _| true, &[])?;
        columns = read_columns(list, lock)?;
    }
    let fresh = columns.is_none();
    let columns = columns.unwrap_or_else(Columns::new_list);
    let mut bytes = Vec::new();
    if fresh {
        bytes.extend(csv_line(&columns.headers).map_err(io_err)?);
    }
    for c in changes {
        let row = new_row(&columns, &c.email, c.name.as_ref(), c.status, at);
        bytes.extend(csv_line(&row).map_err(io_err)?);
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(list)
        .map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1)).map_err(io_err)?;
        file.read_exact(&mut last).map_err(io_err)?;
        if last[0] != b'\n' {
            bytes.insert(0, b'\n');
        }
    }
    file.write_all(&bytes).map_err(io_err)?;
    file.sync_data().map_err(io_err)
}

/// Gives the list the `status` and `changed` columns if it lacks them (a
/// rewrite, once): what `serve` needs to record sign-ups with their time.
pub fn ensure_changed_column(list: &Path, lock: &ListLock) -> Result<bool, Diagnostic> {
    match read_columns(list, lock)? {
        Some(c) if c.status.is_some() && c.changed.is_some() => Ok(false),
        Some(_) => {
            rewrite_with(list, lock, |_, _, _| true, &[], true)?;
            Ok(true)
        }
        None => {
            let io_err =
                |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
            let mut columns = Columns::new_list();
            columns.headers.push("changed".into());
            std::fs::write(list, csv_line(&columns.headers).map_err(io_err)?).map_err(io_err)?;
            Ok(true)
        }
    }
}

/// Rewrites the list: every row passes through `change`, which may edit
/// it and says whether to keep it; `extra` rows go at the end. The result
/// replaces the list in one rename, so a crash leaves the old file or the
/// new one. Rows whose address does not parse are kept as they are.
pub fn rewrite(
    list: &Path,
    lock: &ListLock,
    change: impl FnMut(&Email, &mut Vec<String>, &Columns) -> bool,
    extra: &[(Email, Option<Line>)],
) -> Result<(), Diagnostic> {
    rewrite_with(list, lock, change, extra, false)
}

fn rewrite_with(
    list: &Path,
    lock: &ListLock,
    mut change: impl FnMut(&Email, &mut Vec<String>, &Columns) -> bool,
    extra: &[(Email, Option<Line>)],
    add_changed: bool,
) -> Result<(), Diagnostic> {
    let io_err = |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
    let old_columns = read_columns(list, lock)?.unwrap_or_else(Columns::new_list);
    let old_width = old_columns.headers.len();
    let mut columns = old_columns;
    if columns.status.is_none() {
        columns.headers.push("status".into());
        columns.status = Some(columns.headers.len() - 1);
    }
    if add_changed && columns.changed.is_none() {
        columns.headers.push("changed".into());
        columns.changed = Some(columns.headers.len() - 1);
    }
    let width = columns.headers.len();
    let dir = list_dir(list);
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(list))
        .tempfile_in(&dir)
        .map_err(io_err)?;
    let now = SystemTime::now();
    {
        let mut out = io::BufWriter::new(tmp.as_file_mut());
        out.write_all(&csv_line(&columns.headers).map_err(io_err)?)
            .map_err(io_err)?;
        if list.exists() {
            let snap = Snapshot::take_locked(list, lock)?;
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(snap.reader());
            for record in reader.records() {
                let record = record.map_err(|e| Diagnostic::new(list, None, e.to_string()))?;
                let mut fields: Vec<String> =
                    record.iter().map(|f| undefuse(f).to_owned()).collect();
                // A short row gets its missing trailing fields, empty, and
                // the added columns, empty too.
                if fields.len() < old_width {
                    fields.resize(old_width, String::new());
                }
                if fields.len() < width {
                    fields.resize(width, String::new());
                }
                let keep = match fields.get(columns.email).and_then(|e| Email::parse(e).ok()) {
                    Some(email) => change(&email, &mut fields, &columns),
                    None => true,
                };
                if keep {
                    out.write_all(&csv_line(&fields).map_err(io_err)?)
                        .map_err(io_err)?;
                }
            }
        }
        for (email, name) in extra {
            let row = new_row(&columns, email, name.as_ref(), Status::Subscribed, now);
            out.write_all(&csv_line(&row).map_err(io_err)?)
                .map_err(io_err)?;
        }
        out.flush().map_err(io_err)?;
    }
    keep_owner_and_mode(list, tmp.as_file()).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(list).map_err(|e| io_err(e.error))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err)
}

/// Gives the new file the list's mode and owner, so a rewrite run by
/// another user (a web server's) does not lock the editor out. The
/// temporary file starts at 0600; a list that did not exist gets 0644.
fn keep_owner_and_mode(list: &Path, new: &File) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    match std::fs::metadata(list) {
        Ok(old) => {
            // Only root may give a file away; anyone else keeps their own
            // uid, and the mode still lets the owner's group read it.
            if let Err(e) = std::os::unix::fs::fchown(new, Some(old.uid()), Some(old.gid()))
                && e.kind() != io::ErrorKind::PermissionDenied
            {
                return Err(e);
            }
            new.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            new.set_permissions(std::fs::Permissions::from_mode(0o644))
        }
        Err(e) => Err(e),
    }
}

/// What `compact` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Addresses left, one row each.
    pub readers: u64,
    /// Older rows folded into them.
    pub folded: u64,
    /// Addresses whose sign-up was never confirmed and is older than the
    /// expiry: dropped.
    pub expired: u64,
}

/// Folds the list's history into one row per address (a rewrite, under the
/// lock): the address's first row, with its last status and time. Pending
/// sign-ups older than `expiry` (by their `changed` time) are dropped.
/// Rows that are not readers (a bad address) are kept as they are.
pub fn compact(
    list: &Path,
    lock: &ListLock,
    expiry: std::time::Duration,
    now: SystemTime,
) -> Result<Compacted, Diagnostic> {
    let columns = match read_columns(list, lock)? {
        Some(c) => c,
        None => return Ok(Compacted::default()),
    };
    // First pass: each address's last status and time.
    let mut last: FingerprintMap<(Status, String)> = FingerprintMap::default();
    let snap = Snapshot::take_locked(list, lock)?;
    for s in SubscriberFile::open(&snap)?.flatten() {
        last.insert(s.email.fingerprint(), (s.status, String::new()));
    }
    if let Some(at) = columns.changed {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(snap.reader());
        for record in reader.records().flatten() {
            let email = record.get(columns.email).map(undefuse).unwrap_or("");
            if let (Ok(email), Some(time)) = (Email::parse(email), record.get(at))
                && let Some(entry) = last.get_mut(&email.fingerprint())
            {
                entry.1 = time.trim().to_owned();
            }
        }
    }
    let expired = |(status, time): &(Status, String)| {
        *status == Status::Pending
            && humantime::parse_rfc3339_weak(time)
                .ok()
                .is_some_and(|t| t + expiry < now)
    };
    let mut done = Compacted::default();
    let mut seen = crate::input::email::FingerprintSet::default();
    rewrite(
        list,
        lock,
        |email, fields, columns| {
            let key = email.fingerprint();
            let Some(final_state) = last.get(&key) else {
                return true;
            };
            if !seen.insert(key) {
                done.folded += 1;
                return false;
            }
            if expired(final_state) {
                done.expired += 1;
                return false;
            }
            done.readers += 1;
            if let Some(i) = columns.status {
                fields[i] = final_state.0.as_str().into();
            }
            if let Some(i) = columns.changed
                && !final_state.1.is_empty()
            {
                fields[i] = final_state.1.clone();
            }
            true
        },
        &[],
    )?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_read_back_unchanged() {
        for s in ["=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx"] {
            let d = defuse(s);
            assert!(d.starts_with('\''), "{s:?}");
            assert_eq!(undefuse(&d), s);
        }
        assert_eq!(defuse("Ann"), "Ann");
        assert_eq!(undefuse("'quoted"), "'quoted");
    }

    #[test]
    fn a_value_that_starts_with_a_quote_before_a_formula_reads_back_as_written() {
        for s in ["'=x", "''+1", "'@home", "'quoted", "''", "'"] {
            assert_eq!(undefuse(&defuse(s)), s, "{s:?}");
        }
        assert_eq!(defuse("'=x"), "''=x");
    }
}
