//! What the list says of one address: its rows judged (a row that cannot
//! be read is never consent) and folded, in file order, into a
//! `Standing`, by the same code for every reader of the list.

use std::io::{self, Read};

use crate::audience::rows::{Row, RowReader};
use crate::audience::subscribers::{Columns, Status};
#[cfg(test)]
use crate::input::email::key_fingerprint;
use crate::input::email::{Fingerprint, FingerprintMap, FingerprintSet, fingerprint_of};

/// What the list says of one address, folded from its rows in order.
/// Sixteen bytes: `serve` holds one for every reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The status that counts: the last row's, except that a `pending`
    /// sign-up never hides an earlier status (it is kept in `pending`).
    pub status: Status,
    /// When the live sign-up was asked for (Unix seconds, 0 when none or
    /// its row has no time): a sign-up not yet confirmed, made after
    /// `status`. A confirmation applies only to it.
    pub pending: u32,
    /// When `status` was last set (Unix seconds; 0 when its row has no
    /// time). A bounce or complaint older than this changes nothing.
    pub changed: u32,
    /// The line of a row that could not be read, after the address's last
    /// readable row (0 when none): not mailed until the editor fixes it.
    pub damaged: u32,
}

/// Seconds as the list stores them (`changed` column), in 32 bits.
pub fn secs(at: std::time::SystemTime) -> u32 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

impl Standing {
    /// The address's first row.
    pub fn new(status: Status, at: u32) -> Self {
        match status {
            Status::Pending => Self {
                status,
                pending: at.max(1),
                changed: at,
                damaged: 0,
            },
            _ => Self {
                status,
                pending: 0,
                changed: at,
                damaged: 0,
            },
        }
    }

    /// A row of the address that cannot be read, first or not.
    pub fn damaged(line: u64) -> Self {
        Self {
            status: Status::Subscribed,
            pending: 0,
            changed: 0,
            damaged: u32::try_from(line).unwrap_or(u32::MAX).max(1),
        }
    }

    /// Folds a later readable row in. `explicit`: the row names its status
    /// (an empty status field, or a short row without one, is `subscribed`
    /// only as an address's first row; later it lifts nothing).
    pub fn fold(&mut self, status: Status, at: u32, explicit: bool) {
        self.damaged = 0;
        if !explicit && status == Status::Subscribed {
            return;
        }
        if status == Status::Pending {
            // A sign-up over an earlier status keeps that status.
            self.pending = at.max(1);
            if self.status == Status::Pending {
                self.changed = at;
            }
            return;
        }
        *self = Self::new(status, at);
    }

    /// Whether this reader gets the next issue.
    pub fn mailed(&self) -> bool {
        self.status == Status::Subscribed && self.damaged == 0
    }

    /// Whether a sign-up is waiting for its confirmation.
    pub fn signing_up(&self) -> bool {
        self.pending != 0
    }

    /// Whether the status that counts is a suppression (unsubscribed,
    /// bounced or complained): it lasts until the reader's own
    /// confirmation or the editor's `subscribe`.
    pub fn suppressed(&self) -> bool {
        matches!(
            self.status,
            Status::Unsubscribed | Status::Bounced | Status::Complained
        )
    }
}

/// What one row says, judged the same way by every reader of the list.
pub struct Judged<'a> {
    /// The address field as written (trimmed, a defused `'` taken off),
    /// when it looks like one: whose row this is, even if it is damaged.
    pub email: Option<&'a str>,
    /// The status and whether the row names it (an empty or missing
    /// status field does not), and the row's time; or why the row cannot
    /// be read.
    pub says: Result<(Status, bool, u32), String>,
}

/// Judges a row against the header: the line whole, not too many fields,
/// a known status, a name without control characters. The address is
/// only located here; `Email::parse` checks it where a reader is built.
pub fn judge<'a>(row: &'a Row, columns: &Columns) -> Judged<'a> {
    let email = row
        .text(columns.email)
        .map(crate::audience::list_file::undefuse)
        .filter(|e| e.contains('@'));
    let says = (|| {
        if let Some(damage) = row.damage {
            return Err(damage.describe().to_owned());
        }
        let (fields, expected) = (row.len(), columns.headers.len());
        if fields > expected {
            return Err(format!(
                "has {fields} fields, but the header has {expected}"
            ));
        }
        // A field that is there but not UTF-8 (a missing one is empty).
        let garbled = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .is_some_and(|f| std::str::from_utf8(f).is_err())
        };
        if garbled(Some(columns.email)) || garbled(columns.name) {
            return Err("is not UTF-8 text".to_owned());
        }
        let raw = match columns.status.map(|i| row.get(i)) {
            Some(Some(f)) => std::str::from_utf8(f).map_err(|_| "is not UTF-8 text".to_owned())?,
            _ => "",
        };
        let raw = crate::audience::list_file::undefuse(raw.trim());
        let status = Status::parse(raw).ok_or_else(|| {
            format!(
                "status {:?} is not subscribed, unsubscribed, pending, bounced or complained",
                raw.to_ascii_lowercase()
            )
        })?;
        if let Some(name) = columns.name.and_then(|i| row.text(i))
            && name.chars().any(char::is_control)
        {
            return Err("name has a line break or a control character".to_owned());
        }
        let at = columns
            .changed
            .and_then(|i| row.text(i))
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .map_or(0, crate::audience::consent::secs);
        Ok((status, !raw.is_empty(), at))
    })();
    Judged { email, says }
}

/// Where folded standings are kept.
pub trait Store {
    fn standing(&self, key: &Fingerprint) -> Option<Standing>;
    fn set(&mut self, key: Fingerprint, standing: Standing);
    fn is_empty(&self) -> bool;
}

impl Store for FingerprintMap<Standing> {
    fn standing(&self, key: &Fingerprint) -> Option<Standing> {
        self.get(key).copied()
    }

    fn set(&mut self, key: Fingerprint, standing: Standing) {
        self.insert(key, standing);
    }

    fn is_empty(&self) -> bool {
        FingerprintMap::is_empty(self)
    }
}

/// Every address's standing, in about the room of its fingerprint: most
/// readers are plainly subscribed (no sign-up waiting, nothing damaged),
/// and for them only that they are there is kept, not the time of their
/// last change. What holds this (`serve`'s view) decides sign-ups,
/// confirmations and unsubscribes, none of which asks that time of a
/// subscribed reader; bounces and complaints are decided on a full read
/// of the list (`list_file::standings`).
#[derive(Debug, Default)]
pub struct Roster {
    plain: FingerprintSet,
    other: FingerprintMap<Standing>,
}

impl Roster {
    /// Addresses known.
    pub fn readers(&self) -> usize {
        self.plain.len() + self.other.len()
    }

    pub fn clear(&mut self) {
        self.plain.clear();
        self.other.clear();
    }

    fn is_plain(s: &Standing) -> bool {
        s.status == Status::Subscribed && s.pending == 0 && s.damaged == 0
    }
}

impl Store for Roster {
    fn standing(&self, key: &Fingerprint) -> Option<Standing> {
        self.other.get(key).copied().or_else(|| {
            self.plain
                .contains(key)
                .then(|| Standing::new(Status::Subscribed, 0))
        })
    }

    fn set(&mut self, key: Fingerprint, standing: Standing) {
        if Self::is_plain(&standing) {
            if !self.other.is_empty() {
                self.other.remove(&key);
            }
            self.plain.insert(key);
        } else {
            self.plain.remove(&key);
            self.other.insert(key, standing);
        }
    }

    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.other.is_empty()
    }
}

/// Folds rows into each address's standing, in file order: every address
/// (`every`), or only those whose standing is not plainly `subscribed`
/// (the cheap first pass of a send). Fingerprints come from the address
/// field as written, case-folded. A row that cannot be read is never
/// consent: when its address can be made out, that reader is held
/// (`Standing::damaged`) until a later readable row.
pub fn scan_rows<R: Read, S: Store>(
    reader: &mut RowReader<R>,
    columns: &Columns,
    every: bool,
    store: &mut S,
) -> io::Result<()> {
    let mut row = Row::default();
    while reader.read(&mut row)? {
        let judged = judge(&row, columns);
        let Some(email) = judged.email else {
            continue;
        };
        // Most rows of most lists: a subscribed reader, nothing to note.
        if !every && store.is_empty() && matches!(judged.says, Ok((Status::Subscribed, _, _))) {
            continue;
        }
        fold_row(store, fingerprint_of(email), &judged.says, row.line, every);
    }
    Ok(())
}

/// Folds one judged row of the address `key` into `store` (see
/// `scan_rows`; without `every`, a plainly subscribed address is left out).
pub fn fold_row<S: Store>(
    store: &mut S,
    key: Fingerprint,
    says: &Result<(Status, bool, u32), String>,
    line: u64,
    every: bool,
) {
    let now = store.standing(&key);
    match *says {
        Ok((status, explicit, at)) => match now {
            Some(mut standing) => {
                standing.fold(status, at, explicit);
                store.set(key, standing);
            }
            None if every || status != Status::Subscribed => {
                store.set(key, Standing::new(status, at));
            }
            None => {}
        },
        Err(_) => {
            let damaged = Standing::damaged(line);
            let mut standing = now.unwrap_or(damaged);
            standing.damaged = damaged.damaged;
            store.set(key, standing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_keeps_plain_readers_in_a_set_and_moves_them_when_they_change() {
        let key = key_fingerprint("ann@example.org");
        let mut roster = Roster::default();
        roster.set(key, Standing::new(Status::Subscribed, 100));
        assert_eq!((roster.plain.len(), roster.other.len()), (1, 0));
        assert_eq!(
            roster.standing(&key).map(|s| s.status),
            Some(Status::Subscribed)
        );
        roster.set(key, Standing::new(Status::Unsubscribed, 200));
        assert_eq!((roster.plain.len(), roster.other.len()), (0, 1));
        assert_eq!(
            roster.standing(&key),
            Some(Standing::new(Status::Unsubscribed, 200))
        );
        let mut back = Standing::new(Status::Subscribed, 300);
        back.damaged = 9;
        roster.set(key, back);
        assert_eq!(roster.standing(&key), Some(back), "damage is kept whole");
        roster.set(key, Standing::new(Status::Subscribed, 400));
        assert_eq!((roster.plain.len(), roster.other.len()), (1, 0));
        assert_eq!(roster.readers(), 1);
        assert_eq!(roster.standing(&key_fingerprint("bo@example.org")), None);
    }
}
