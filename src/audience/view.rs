//! The readers as they stand, one each, in list order: the status that
//! counts, their details (name, tags) and since when, folded as every
//! reader of the list folds them (`standing`, `details`). What `list`
//! shows and `list --json` prints; a view, never a change.

use serde::Serialize;

use crate::audience::details::{Folded, settle};
use crate::audience::subscribers::{Snapshot, SubscriberFile};
use crate::input::diagnostic::Diagnostic;

/// One reader as they stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reader {
    /// The line of their first row.
    pub line: u64,
    pub email: String,
    /// `subscribed`, `pending`, `unsubscribed`, `bounced`, `complained`,
    /// or `held` (a later row of theirs cannot be read: not mailed).
    pub status: &'static str,
    pub name: String,
    /// Their tags, `;` between (lower case).
    pub tags: String,
    /// When the status that counts was set (RFC 3339), when known.
    pub since: Option<String>,
    /// A sign-up waits for its confirmation.
    pub signing_up: bool,
    /// The unreadable line that holds them, when `held`.
    pub held_by: Option<u64>,
}

/// Every reader on the list as they stand, in the order of their first
/// row. Rows that cannot be read are not readers (`check` names them).
pub fn readers(snapshot: &Snapshot) -> Result<impl Iterator<Item = Reader> + use<>, Diagnostic> {
    let Folded {
        standings,
        mut seen,
        mut later,
        tags,
    } = Folded::read(snapshot, true)?;
    let file = SubscriberFile::open(snapshot)?;
    let columns = file.columns().clone();
    Ok(file.filter_map(Result::ok).filter_map(move |mut s| {
        let key = s.email.fingerprint();
        if !seen.remove(&key) {
            return None;
        }
        settle(&mut s, &columns, later.remove(&key).as_ref());
        let standing = standings.get(&key).copied();
        let held_by = standing
            .filter(|st| st.damaged != 0)
            .map(|st| u64::from(st.damaged));
        let status = match (held_by, standing) {
            (Some(_), _) => "held",
            (None, Some(st)) => st.status.as_str(),
            (None, None) => s.status.as_str(),
        };
        let changed = standing.map_or(s.changed, |st| st.changed);
        Some(Reader {
            line: s.line,
            email: s.email.to_string(),
            status,
            name: s.name.as_ref().map_or_else(String::new, |n| n.to_string()),
            tags: tags.of(&key).to_owned(),
            since: (changed != 0).then(|| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(changed)),
                )
                .to_string()
            }),
            signing_up: standing.is_some_and(|st| st.signing_up()),
            held_by,
        })
    }))
}
