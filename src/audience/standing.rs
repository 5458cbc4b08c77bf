//! What the list says of one address: its rows judged (a row that cannot
//! be read is never consent) and folded, in file order, into a
//! `Standing`, by the same code for every reader of the list.

use std::io::{self, Read};

use crate::audience::rows::{Row, RowReader};
use crate::audience::subscribers::{Columns, Status};
use crate::input::email::{FingerprintMap, key_fingerprint};

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

    /// What `list --compact` keeps: the status that counts, and whether
    /// the live sign-up (if any) is kept as a row of its own.
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

/// Folds rows into each address's standing, in file order: every address
/// (`every`), or only those whose standing is not plainly `subscribed`
/// (the cheap first pass of a send). Fingerprints come from the address
/// field as written, case-folded. A row that cannot be read is never
/// consent: when its address can be made out, that reader is held
/// (`Standing::damaged`) until a later readable row.
pub fn scan_rows<R: Read>(
    reader: &mut RowReader<R>,
    columns: &Columns,
    every: bool,
    map: &mut FingerprintMap<Standing>,
) -> io::Result<()> {
    let mut row = Row::default();
    while reader.read(&mut row)? {
        let judged = judge(&row, columns);
        let Some(email) = judged.email else {
            continue;
        };
        // Most rows of most lists: a subscribed reader, nothing to note.
        if !every && map.is_empty() && matches!(judged.says, Ok((Status::Subscribed, _, _))) {
            continue;
        }
        let key = key_fingerprint(&email.to_lowercase());
        match judged.says {
            Ok((status, explicit, at)) => match map.get_mut(&key) {
                Some(standing) => standing.fold(status, at, explicit),
                None if every || status != Status::Subscribed => {
                    map.insert(key, Standing::new(status, at));
                }
                None => {}
            },
            Err(_) => {
                let damaged = Standing::damaged(row.line);
                map.entry(key)
                    .and_modify(|s| s.damaged = damaged.damaged)
                    .or_insert(damaged);
            }
        }
    }
    Ok(())
}
