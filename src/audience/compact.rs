//! `list --compact`: the list's history folded into one row per reader,
//! by the rules of `consent` (a suppression is never dropped; an expired
//! sign-up is, and only it) and of `details` (the reader's latest name,
//! tags and columns), as one rewrite renamed over the list under the lock:
//! the only way bulletin replaces the list (views of it notice the rename
//! and read it again).

use std::path::Path;
use std::time::SystemTime;

use crate::audience::details::{Folded, sets_details};
use crate::audience::list_file::{ListLock, read_columns, rewrite};
use crate::audience::subscribers::{Snapshot, Status};
use crate::input::diagnostic::Diagnostic;

/// What `compact` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Addresses left, one row each (two where a live sign-up waits over
    /// an earlier status).
    pub readers: u64,
    /// Older rows folded into them.
    pub folded: u64,
    /// Addresses whose sign-up was never confirmed and is older than the
    /// expiry, and that had no other history: dropped.
    pub expired: u64,
    /// Lines that could not be read: kept as they are.
    pub damaged: u64,
}

/// Folds the list's history into one row per address (a rewrite, under the
/// lock): the address's first row, with the status that counts and its
/// time, and the details as they stand. A suppression is never dropped. A sign-up older than `expiry` is
/// dropped: the whole address when it had no other history, else only the
/// sign-up (the earlier status stays). A live sign-up over an earlier
/// status keeps its own row, so its link still works. Lines that cannot be
/// read, and their readers' rows, are kept as they are for the editor.
pub fn compact(
    list: &Path,
    lock: &ListLock,
    expiry: std::time::Duration,
    now: SystemTime,
) -> Result<Compacted, Diagnostic> {
    if read_columns(list, lock)?.is_none() {
        return Ok(Compacted::default());
    }
    let snapshot = Snapshot::take_locked(list, lock)?;
    let Folded {
        standings, later, ..
    } = Folded::read(&snapshot, true)?;
    drop(snapshot);
    let now = crate::audience::consent::secs(now);
    let expiry = u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX);
    let expired = |at: u32| at > 1 && at.saturating_add(expiry) < now;
    let format_time = |secs: u32| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(secs)),
        )
        .to_string()
    };
    let mut done = Compacted::default();
    let mut seen = crate::input::email::FingerprintSet::default();
    let mut kept_sign_up = crate::input::email::FingerprintSet::default();
    done.damaged = rewrite(
        list,
        lock,
        |email, fields, columns| {
            let key = email.fingerprint();
            let Some(standing) = standings.get(&key) else {
                return true;
            };
            if standing.damaged != 0 {
                // Left for the editor, row for row.
                return true;
            }
            let first = seen.insert(key);
            let only_a_sign_up = standing.status == Status::Pending;
            if only_a_sign_up && expired(standing.pending) {
                if first {
                    done.expired += 1;
                }
                return false;
            }
            let time_of = |i: Option<usize>| {
                i.and_then(|i| fields.get(i))
                    .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok())
                    .map_or(0, crate::audience::consent::secs)
            };
            if first {
                done.readers += 1;
                if !only_a_sign_up {
                    // The reader's details as they stand (`details`): a
                    // sign-up's typed text is no detail, later rows' are.
                    let own = columns
                        .status
                        .and_then(|i| fields.get(i))
                        .and_then(|s| Status::parse(s));
                    if own.is_some_and(|s| !sets_details(s)) {
                        for (i, f) in fields.iter_mut().enumerate() {
                            if i != columns.email && Some(i) != columns.status {
                                f.clear();
                            }
                        }
                    }
                    if let Some(overlay) = later.get(&key) {
                        for (i, f) in fields.iter_mut().enumerate() {
                            if let Some(v) = overlay.get(i) {
                                *f = v.to_owned();
                            }
                        }
                    }
                }
                if let Some(i) = columns.status {
                    fields[i] = standing.status.as_str().into();
                }
                let at = if only_a_sign_up {
                    standing.pending
                } else {
                    standing.changed
                };
                if let Some(i) = columns.changed
                    && at > 1
                {
                    fields[i] = format_time(at);
                }
                return true;
            }
            // The live sign-up over an earlier status: its own row stays.
            let is_the_sign_up = !only_a_sign_up
                && standing.signing_up()
                && columns
                    .status
                    .and_then(|i| fields.get(i))
                    .is_some_and(|s| Status::parse(s) == Some(Status::Pending))
                && time_of(columns.changed) == standing.pending
                && kept_sign_up.insert(key);
            if is_the_sign_up {
                if !expired(standing.pending) {
                    return true;
                }
                // Expired: dropped, the earlier status stays.
                done.expired += 1;
                return false;
            }
            done.folded += 1;
            false
        },
        &[],
    )?;
    Ok(done)
}
