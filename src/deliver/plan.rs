//! Who gets this issue: the list's subscribed rows, each address once, less
//! those an earlier run already settled; and why every other row is skipped.

use std::sync::Arc;

use crate::audience::details::{Folded, settle};
use crate::audience::subscribers::{BadRow, Snapshot, Status, Subscriber, SubscriberFile};
use crate::deliver::journal::{self, History};
use crate::input::diagnostic::Diagnostic;
use crate::input::issue::Audience;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Due(Subscriber),
    /// A row not mailed: its line, its address as written (empty when the
    /// row cannot be read), and why.
    Skipped {
        line: u64,
        email: String,
        reason: Skip,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Unsubscribed,
    /// Not to be mailed for another reason than leaving: signed up and not
    /// confirmed (`pending`), `bounced` or `complained`.
    Held(Status),
    /// A later row of an address whose status changed: its history, not a
    /// second reader.
    History,
    /// A row of this reader after their last readable one cannot be read
    /// (at this line): not mailed until the editor fixes it.
    Damaged(u64),
    /// Not in the issue's audience (by the reader's tags).
    OutOfAudience,
    /// The same reader listed again by hand (a second row without a time,
    /// for an address that never was anything but subscribed).
    Duplicate(String),
    Invalid(String),
    /// An earlier run recorded this final status (sent, failed, or unknown
    /// without `--resend-unknown`).
    Done(journal::Status),
}

/// The entries of the list in file order.
///
/// The rows of an address decide its standing (`audience::consent`):
/// bulletin records every change (an unsubscribe, a confirmed sign-up, a
/// re-subscribe) as a row appended at the end, so an older row of a reader
/// who left never gets them mail. Finding the standing takes a first pass
/// (`details::Folded`), which also folds each reader's details (their
/// latest name, tags and columns: `audience::details`); the second takes
/// each address at its first row with those details put in.
///
/// With an `audience`, a reader it does not take is skipped
/// (`OutOfAudience`), by their tags as they stand.
///
/// With `rows`, each reader due carries their row's fields (for an issue
/// with per-reader fields).
pub fn recipients(
    list: &Snapshot,
    audience: Option<&Audience>,
    rows: bool,
) -> Result<impl Iterator<Item = Entry> + use<>, Diagnostic> {
    let Folded {
        standings: last,
        mut seen,
        mut later,
        tags,
    } = Folded::read(list, false)?;
    let audience = audience.map(|a| (a.clone(), tags));
    let file = SubscriberFile::open(list)?.keeping_rows(rows);
    let columns = file.columns().clone();
    Ok(file.map(move |row| match row {
        Err(BadRow { line, message }) => Entry::Skipped {
            line,
            email: String::new(),
            reason: Skip::Invalid(message),
        },
        Ok(mut s) => {
            let key = s.email.fingerprint();
            let status = last.get(&key).copied();
            // The first pass met every address; each is taken out at its
            // first row here, so a row whose address is gone is a later one.
            let reason = if !seen.remove(&key) {
                // A later row: a status change or the editor's update is
                // history. A second row typed by hand without a time, for
                // an address that never was anything but subscribed, is
                // the same reader listed twice.
                match status {
                    None if s.changed == 0 && s.status == Status::Subscribed => {
                        Skip::Duplicate(s.email.to_string())
                    }
                    _ => Skip::History,
                }
            } else {
                let mailed = match status {
                    Some(st) if st.damaged != 0 => Err(Skip::Damaged(u64::from(st.damaged))),
                    None => Ok(()),
                    Some(st) => match st.status {
                        Status::Subscribed => Ok(()),
                        Status::Unsubscribed => Err(Skip::Unsubscribed),
                        held => Err(Skip::Held(held)),
                    },
                };
                match (mailed, &audience) {
                    (Ok(()), Some((a, index))) if !a.takes(index.of(&key)) => Skip::OutOfAudience,
                    (Ok(()), _) => {
                        settle(&mut s, &columns, later.remove(&key).as_ref());
                        return Entry::Due(s);
                    }
                    (Err(skip), _) => skip,
                }
            };
            Entry::Skipped {
                line: s.line,
                email: s.email.to_string(),
                reason,
            }
        }
    }))
}

/// Which settled readers a resumed send tries again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resend {
    /// `--resend-unknown`: those whose message may or may not have arrived.
    pub unknown: bool,
    /// `--retry-failed`: those whose last row is `failed`.
    pub failed: bool,
}

/// The list's entries for a resumed send: a reader whose last logged status
/// is `sent` is done; `failed` is done unless `resend.failed`; `unknown` is
/// done unless `resend.unknown`; `deferred` and `retry` are due again.
pub fn pending(
    list: &Snapshot,
    history: Arc<History>,
    resend: Resend,
    audience: Option<&Audience>,
    rows: bool,
) -> Result<impl Iterator<Item = Entry> + use<>, Diagnostic> {
    Ok(
        recipients(list, audience, rows)?.map(move |entry| match entry {
            Entry::Due(s) => match history.status(s.email.fingerprint()) {
                Some(journal::Status::Failed) if resend.failed => Entry::Due(s),
                Some(st @ (journal::Status::Sent | journal::Status::Failed)) => Entry::Skipped {
                    line: s.line,
                    email: s.email.to_string(),
                    reason: Skip::Done(st),
                },
                Some(journal::Status::Unknown | journal::Status::Sending) if !resend.unknown => {
                    Entry::Skipped {
                        line: s.line,
                        email: s.email.to_string(),
                        reason: Skip::Done(journal::Status::Unknown),
                    }
                }
                _ => Entry::Due(s),
            },
            skipped => skipped,
        }),
    )
}

/// Readers held back for another reason than leaving.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    pub pending: u64,
    pub bounced: u64,
    pub complained: u64,
}

impl Held {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pending => self.pending += 1,
            Status::Bounced => self.bounced += 1,
            Status::Complained => self.complained += 1,
            Status::Subscribed | Status::Unsubscribed => {}
        }
    }
}

/// `"2 pending, 1 bounced, "` for the skipped line: only what there is, as
/// most lists have none of them.
impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, what) in [
            (self.pending, "pending"),
            (self.bounced, "bounced"),
            (self.complained, "complained"),
        ] {
            if n > 0 {
                write!(f, "{n} {what}, ")?;
            }
        }
        Ok(())
    }
}

/// ", 2 held by an unreadable row" for a skipped line, or nothing: most
/// lists have none.
pub fn damaged_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} held by an unreadable row")
    }
}

/// How many rows of each kind a pass over the list found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub due: u64,
    pub sent_before: u64,
    pub failed_before: u64,
    pub unknown_before: u64,
    pub unsubscribed: u64,
    pub held: Held,
    /// Readers not mailed because a later row of theirs cannot be read.
    pub damaged: u64,
    /// Readers the issue's audience does not take.
    pub outside: u64,
    pub duplicate: u64,
    pub invalid: u64,
}

impl Counts {
    pub fn add(&mut self, entry: &Entry) {
        match entry {
            Entry::Due(_) => self.due += 1,
            Entry::Skipped { reason, .. } => match reason {
                Skip::Unsubscribed => self.unsubscribed += 1,
                Skip::Held(status) => self.held.add(*status),
                Skip::Damaged(_) => self.damaged += 1,
                Skip::OutOfAudience => self.outside += 1,
                Skip::History => {}
                Skip::Duplicate(_) => self.duplicate += 1,
                Skip::Invalid(_) => self.invalid += 1,
                Skip::Done(journal::Status::Sent) => self.sent_before += 1,
                Skip::Done(journal::Status::Failed) => self.failed_before += 1,
                Skip::Done(_) => self.unknown_before += 1,
            },
        }
    }
}
