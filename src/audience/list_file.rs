//! Changing the subscriber list without ever damaging it: every change
//! holds an exclusive lock, an append writes whole rows in one write (after
//! moving any unfinished last line aside), and anything else rewrites a
//! synced temporary file and renames it over, keeping mode, owner and
//! group.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audience::consent::Standing;
use crate::audience::files::open_append;
use crate::audience::rows::{Row, RowReader};
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
    let path = lock_path(list);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(crate::audience::files::new_file_mode(&list_dir(list)))
        .open(&path)?;
    Ok(file)
}

/// For a shared lock, read-only is enough: a reader that may not write the
/// folder (a send run by another user) can still wait for writers.
fn open_lock_read(list: &Path) -> io::Result<File> {
    match File::open(lock_path(list)) {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => open_lock(list),
        Err(e) => Err(e),
    }
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
    clear_leftovers(list);
    Ok(ListLock { _file: file })
}

/// Removes what a killed rewrite left: no rewrite is under way while the
/// lock is held.
fn clear_leftovers(list: &Path) {
    let prefix = temp_prefix(list);
    if let Ok(entries) = std::fs::read_dir(list_dir(list)) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

pub fn list_dir(list: &Path) -> PathBuf {
    match list.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The same, waiting at most `limit` for the lock (a server must not hang
/// on a CLI command that holds it): past that, an error that says so.
pub fn lock_exclusive_within(list: &Path, limit: std::time::Duration) -> io::Result<ListLock> {
    let file = open_lock(list)?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "its lock is held by another command for more than {} s",
                        limit.as_secs()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    clear_leftovers(list);
    Ok(ListLock { _file: file })
}

/// Waits until no change is under way; changes wait while this is held.
pub fn lock_shared(list: &Path) -> io::Result<ListLock> {
    let file = open_lock_read(list)?;
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
pub fn read_columns(list: &Path, lock: &ListLock) -> Result<Option<Columns>, Diagnostic> {
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
    tags: Option<&str>,
    lang: Option<&crate::input::lang::Lang>,
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
    if let (Some(i), Some(t)) = (columns.tags, tags) {
        row[i] = t.to_owned();
    }
    if let (Some(i), Some(l)) = (columns.lang, lang) {
        row[i] = l.to_string();
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

/// Each address's standing in the list (by `key_fingerprint`), read by
/// the rules every reader of the list follows.
pub fn standings(list: &Path, lock: &ListLock) -> Result<FingerprintMap<Standing>, Diagnostic> {
    if !list.exists() {
        return Ok(FingerprintMap::default());
    }
    let snap = Snapshot::take_locked(list, lock)?;
    SubscriberFile::open(&snap)?.all_standings()
}

/// One status change to record: a row appended for `email`.
#[derive(Debug, Clone)]
pub struct Change {
    pub email: Email,
    pub name: Option<Line>,
    pub status: Status,
    /// Its own time, when not the time of the whole write (a sign-up kept
    /// later than the address's last change, so its link names it alone).
    pub at: Option<SystemTime>,
    /// The reader's tags from now on (canonical), when this row sets them.
    pub tags: Option<String>,
    /// The reader's language, when this row sets it (written where the
    /// list has a `lang` column).
    pub lang: Option<crate::input::lang::Lang>,
    /// Whether a list without a `lang` column gets one for it (a
    /// confirmation in another language than the newsletter's; never a
    /// `pending` row, which is only a proposal).
    pub adds_lang_column: bool,
}

/// Records status changes as rows appended at the end, then synced (an
/// import's many rows in row-aligned pieces): the last row of an address decides its status, so a change
/// never rewrites the file (a one-click unsubscribe on a list of a million
/// rows costs one small write). A list without `status` and `changed`
/// columns gets them first, by a rewrite: a change's time is what keeps
/// an old bounce from undoing it. A last line left unfinished (a torn
/// write, a hand edit) is moved to `<list>.damaged` first, so the new rows
/// start on lines of their own.
pub fn record(
    list: &Path,
    lock: &ListLock,
    changes: &[Change],
    at: SystemTime,
) -> Result<(), Diagnostic> {
    let io_err = |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
    let mut columns = read_columns(list, lock)?;
    let tagging = changes.iter().any(|c| c.tags.is_some());
    let languaging = changes
        .iter()
        .any(|c| c.adds_lang_column && c.status != Status::Pending);
    if columns.as_ref().is_some_and(|c| {
        c.status.is_none()
            || c.changed.is_none()
            || (tagging && c.tags.is_none())
            || (languaging && c.lang.is_none())
    }) {
        rewrite_with(list, lock, |_, _, _| true, &[], true, tagging, languaging)?;
        columns = read_columns(list, lock)?;
    }
    let fresh = columns.is_none();
    let mut columns = columns.unwrap_or_else(Columns::new_list);
    if fresh && tagging {
        columns.headers.push("tags".into());
        columns.tags = Some(columns.headers.len() - 1);
    }
    if fresh && languaging {
        columns.headers.push("lang".into());
        columns.lang = Some(columns.headers.len() - 1);
    }
    let mut bytes = Vec::new();
    if fresh {
        bytes.extend(csv_line(&columns.headers).map_err(io_err)?);
    }
    for c in changes {
        let row = new_row(
            &columns,
            &c.email,
            c.name.as_ref(),
            c.status,
            c.at.unwrap_or(at),
            c.tags.as_deref(),
            c.lang.as_ref(),
        );
        bytes.extend(csv_line(&row).map_err(io_err)?);
    }
    let mut file = open_append(list).map_err(io_err)?;
    if !fresh {
        let end = crate::audience::repair::repair_end(list, &file, &columns)?;
        bytes.splice(0..0, end);
    }
    // In pieces that end at a row's end: a big write (an import) that a
    // kill stops part-way most likely leaves whole rows, and the next
    // writer ends any row it did cut (`repair`).
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let piece = match rest
            .get(..APPEND_PIECE)
            .and_then(|p| memchr::memrchr(b'\n', p))
        {
            Some(i) => i + 1,
            None => rest.len(),
        };
        file.write_all(&rest[..piece]).map_err(io_err)?;
        rest = &rest[piece..];
    }
    file.sync_data().map_err(io_err)
}

/// The most an append writes at once (see `record`).
const APPEND_PIECE: usize = 1 << 16;

/// Gives the list the `status` and `changed` columns if it lacks them (a
/// rewrite, once): what `serve` needs to record sign-ups with their time.
pub fn ensure_changed_column(list: &Path, lock: &ListLock) -> Result<bool, Diagnostic> {
    match read_columns(list, lock)? {
        Some(c) if c.status.is_some() && c.changed.is_some() => Ok(false),
        Some(_) => {
            rewrite_with(list, lock, |_, _, _| true, &[], true, false, false)?;
            Ok(true)
        }
        None => {
            let io_err =
                |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
            let columns = Columns::new_list();
            let mut file = open_append(list).map_err(io_err)?;
            file.write_all(&csv_line(&columns.headers).map_err(io_err)?)
                .and_then(|()| file.sync_data())
                .map_err(io_err)?;
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
) -> Result<u64, Diagnostic> {
    rewrite_with(list, lock, change, extra, false, false, false)
}

fn rewrite_with(
    list: &Path,
    lock: &ListLock,
    mut change: impl FnMut(&Email, &mut Vec<String>, &Columns) -> bool,
    extra: &[(Email, Option<Line>)],
    add_changed: bool,
    add_tags: bool,
    add_lang: bool,
) -> Result<u64, Diagnostic> {
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
    if add_tags && columns.tags.is_none() {
        columns.headers.push("tags".into());
        columns.tags = Some(columns.headers.len() - 1);
    }
    if add_lang && columns.lang.is_none() {
        columns.headers.push("lang".into());
        columns.lang = Some(columns.headers.len() - 1);
    }
    let width = columns.headers.len();
    let dir = list_dir(list);
    let mut damaged = 0u64;
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
            let mut reader = RowReader::new(snap.reader());
            let mut row = Row::default();
            // The header was read above.
            reader
                .read(&mut row)
                .map_err(|e| Diagnostic::new(list, None, format!("cannot be read: {e}")))?;
            while reader
                .read(&mut row)
                .map_err(|e| Diagnostic::new(list, None, format!("cannot be read: {e}")))?
            {
                // A damaged line is kept as it is, on a line of its own:
                // the editor decides what it was.
                if row.damage.is_some() {
                    damaged += 1;
                    out.write_all(&row.raw).map_err(io_err)?;
                    if !row.terminated {
                        // An unfinished last line, ended as an append
                        // would end it: damaged still, never a row.
                        out.write_all(&crate::audience::rows::ended_mark(width))
                            .map_err(io_err)?;
                    }
                    out.write_all(b"\n").map_err(io_err)?;
                    continue;
                }
                let mut fields: Vec<String> = row
                    .strings()
                    .iter()
                    .map(|f| undefuse(f).to_owned())
                    .collect();
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
            let row = new_row(
                &columns,
                email,
                name.as_ref(),
                Status::Subscribed,
                now,
                None,
                None,
            );
            out.write_all(&csv_line(&row).map_err(io_err)?)
                .map_err(io_err)?;
        }
        out.flush().map_err(io_err)?;
    }
    crate::audience::files::keep_owner_and_mode(list, tmp.as_file()).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(list).map_err(|e| io_err(e.error))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err)?;
    Ok(damaged)
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
