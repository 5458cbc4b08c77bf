//! Who gets this issue: the list's subscribed rows, each address once, and
//! why every other row is skipped.

use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::diag::Diagnostic;
use crate::subscribers::{BadRow, Status, Subscriber, SubscriberFile};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Due(Subscriber),
    Skipped { line: u64, reason: Skip },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Unsubscribed,
    /// The address (compared case-insensitively) came earlier in the list.
    Duplicate(String),
    Invalid(String),
}

/// 128 bits of an address's key: a set of these costs 16 bytes a reader,
/// where the addresses themselves would cost several times that.
fn fingerprint(key: &str) -> u128 {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

/// The entries of the list in file order.
///
/// An address with an `unsubscribed` row anywhere in the file is skipped
/// everywhere: a reader who left must never get mail because an older row
/// of theirs still says subscribed. Finding those takes a first pass.
pub fn recipients(list: &Path) -> Result<impl Iterator<Item = Entry>, Diagnostic> {
    let left: HashSet<u128> = SubscriberFile::open(list)?
        .filter_map(Result::ok)
        .filter(|s| s.status == Status::Unsubscribed)
        .map(|s| fingerprint(&s.email.key()))
        .collect();
    let mut seen: HashSet<u128> = HashSet::new();
    let rows = SubscriberFile::open(list)?;
    Ok(rows.map(move |row| match row {
        Err(BadRow { line, message }) => Entry::Skipped {
            line,
            reason: Skip::Invalid(message),
        },
        Ok(s) => {
            let key = fingerprint(&s.email.key());
            if s.status == Status::Unsubscribed || left.contains(&key) {
                Entry::Skipped {
                    line: s.line,
                    reason: Skip::Unsubscribed,
                }
            } else if !seen.insert(key) {
                Entry::Skipped {
                    line: s.line,
                    reason: Skip::Duplicate(s.email.to_string()),
                }
            } else {
                Entry::Due(s)
            }
        }
    }))
}
