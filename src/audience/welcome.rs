//! The reader a welcome issue is filled in for: as the list has them
//! when it goes (their ledger is `ledger`'s).

use std::path::Path;

use crate::audience::details::reader_of;
use crate::audience::subscribers::{Columns, Snapshot, Subscriber};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Email;

/// The reader a welcome goes to, as the list has them now: `None` when
/// they are not subscribed (left again, or never confirmed: no welcome),
/// else their row with their details as they stand (`details`: what their
/// confirmation recorded, never what a sign-up typed), and the list's
/// columns as they are now (a rewrite may have added one since `serve`
/// started).
pub fn reader(list: &Path, email: &Email) -> Result<Option<(Subscriber, Columns)>, Diagnostic> {
    let snap = Snapshot::take(list)?;
    Ok(reader_of(&snap, email)?
        .filter(|(standing, _, _)| standing.mailed())
        .map(|(_, s, columns)| (s, columns)))
}
