//! A reader's details (name, tags, every column but the address, status
//! and time) as every reader of the list folds them: each column's latest
//! non-empty value among the rows that may set details. The editor's rows
//! (`subscribe`, imports) and the reader's own confirmation (which records
//! what the confirm page submitted) may; a web sign-up's `pending` row may
//! not: anyone can make one, for any address, so what it holds is only a
//! proposal for the confirm page. A status change leaves the columns empty
//! and changes nothing. The planner, compaction, the welcome and test
//! copies all read details here, so a dry-run's audience is the same before
//! and after `--compact`.

use std::io;
use std::sync::Arc;

use crate::audience::rows::{Row, RowReader};
use crate::audience::standing::{Standing, fold_row, judge};
use crate::audience::subscribers::{Columns, Snapshot, Status, Subscriber, SubscriberFile};
use crate::audience::tags::TagIndex;
use crate::input::checked::Line;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, FingerprintMap, FingerprintSet, fingerprint_of};

/// Whether a row with this status may set a reader's details.
pub fn sets_details(status: Status) -> bool {
    status != Status::Pending
}

/// Whether column `i` is a detail (not the address, status or time).
fn is_detail(columns: &Columns, i: usize) -> bool {
    i != columns.email && Some(i) != columns.status && Some(i) != columns.changed
}

/// The details later rows set, by column: each the latest non-empty value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overlay(Vec<Option<Box<str>>>);

impl Overlay {
    /// Takes in a row's non-empty details (a defused `'` taken off).
    pub fn add(&mut self, row: &Row, columns: &Columns) {
        for i in 0..row.len() {
            if !is_detail(columns, i) {
                continue;
            }
            let value = crate::audience::list_file::undefuse(row.text(i).unwrap_or(""));
            if value.is_empty() {
                continue;
            }
            if self.0.len() <= i {
                self.0.resize(i + 1, None);
            }
            self.0[i] = Some(value.into());
        }
    }

    /// Column `i`'s value, if a later row set it.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(|v| v.as_deref())
    }

    /// Puts the values set into `fields` (a row's, at least as wide as
    /// the header).
    pub fn apply(&self, fields: &mut [Box<str>]) {
        for (i, value) in self.0.iter().enumerate() {
            if let (Some(v), Some(f)) = (value, fields.get_mut(i)) {
                *f = v.clone();
            }
        }
    }
}

/// What one pass over the list finds, for a second pass that streams the
/// readers: each address's standing (only those not plainly subscribed,
/// unless `every`), every address met (a second pass takes each out at
/// its first row), the details of rows after an address's first, and
/// every reader's tags.
#[derive(Debug, Default)]
pub struct Folded {
    pub standings: FingerprintMap<Standing>,
    pub seen: FingerprintSet,
    pub later: FingerprintMap<Overlay>,
    pub tags: TagIndex,
}

impl Folded {
    pub fn read(snapshot: &Snapshot, every: bool) -> Result<Self, Diagnostic> {
        let path = snapshot.path();
        let cannot = |e: io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
        let mut reader = RowReader::new(snapshot.reader());
        let columns = Columns::read(path, &mut reader)?;
        // Sized from the file (a row is some 40 bytes) so that neither the
        // set nor the tags grow, which would hold two tables at once.
        let rows = usize::try_from(snapshot.len() / 40).unwrap_or(0);
        let mut folded = Folded {
            seen: FingerprintSet::with_capacity_and_hasher(rows, Default::default()),
            tags: match columns.tags {
                Some(_) => TagIndex::with_capacity(rows),
                None => TagIndex::default(),
            },
            ..Folded::default()
        };
        let mut row = Row::default();
        while reader.read(&mut row).map_err(cannot)? {
            let judged = judge(&row, &columns);
            let Some(email) = judged.email else {
                continue;
            };
            let key = fingerprint_of(email);
            fold_row(&mut folded.standings, key, &judged.says, row.line, every);
            let first = folded.seen.insert(key);
            let Ok((status, _, _)) = judged.says else {
                continue;
            };
            if !sets_details(status) {
                continue;
            }
            if !first && (0..row.len()).any(|i| is_detail(&columns, i) && row.text(i) != Some("")) {
                folded.later.entry(key).or_default().add(&row, &columns);
            }
            if let Some(tags) = columns.tags.and_then(|i| row.text(i)) {
                folded
                    .tags
                    .set(key, crate::audience::list_file::undefuse(tags));
            }
        }
        Ok(folded)
    }
}

/// Makes a reader's first row carry their details as they stand: a
/// sign-up's typed text is dropped (the row is only the address), then
/// what later rows set is put in. `overlay` is theirs from `Folded::later`.
pub fn settle(sub: &mut Subscriber, columns: &Columns, overlay: Option<&Overlay>) {
    let proposal = !sets_details(sub.status);
    if !proposal && overlay.is_none() {
        return;
    }
    if proposal {
        sub.name = None;
        sub.lang = None;
    }
    if let Some(name) = columns
        .name
        .and_then(|i| overlay.and_then(|o| o.get(i)))
        .and_then(|n| Line::parse(n).ok())
    {
        sub.name = Some(name);
    }
    // The language a later row set (a confirmation made on pages in the
    // reader's language, an editor's import) is theirs from then on.
    if let Some(lang) = columns
        .lang
        .and_then(|i| overlay.and_then(|o| o.get(i)))
        .and_then(|l| crate::input::lang::Lang::parse(l).ok())
    {
        sub.lang = Some(lang);
    }
    if let Some(row) = &sub.row {
        let mut fields: Vec<Box<str>> = row.to_vec();
        if fields.len() < columns.headers.len() {
            fields.resize(columns.headers.len(), Box::from(""));
        }
        if proposal {
            for (i, f) in fields.iter_mut().enumerate() {
                if is_detail(columns, i) {
                    *f = Box::from("");
                }
            }
        }
        if let Some(o) = overlay {
            o.apply(&mut fields);
        }
        sub.row = Some(Arc::from(fields));
    }
}

/// One address as the list has it now, its row's fields kept: its
/// standing, and its first readable row with its details settled
/// (`settle`). `None` when not on the list.
pub fn reader_of(
    snapshot: &Snapshot,
    email: &Email,
) -> Result<Option<(Standing, Subscriber, Columns)>, Diagnostic> {
    let key = email.fingerprint();
    let path = snapshot.path();
    let cannot = |e: io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
    let mut reader = RowReader::new(snapshot.reader());
    let columns = Columns::read(path, &mut reader)?;
    let mut standings: FingerprintMap<Standing> = FingerprintMap::default();
    let mut overlay = Overlay::default();
    let mut first_line = None;
    let mut row = Row::default();
    while reader.read(&mut row).map_err(cannot)? {
        let judged = judge(&row, &columns);
        if judged.email.map(fingerprint_of) != Some(key) {
            continue;
        }
        fold_row(&mut standings, key, &judged.says, row.line, true);
        let Ok((status, _, _)) = judged.says else {
            continue;
        };
        if first_line.is_none() && Email::parse(judged.email.unwrap_or("")).is_ok() {
            first_line = Some(row.line);
        } else if sets_details(status) {
            overlay.add(&row, &columns);
        }
    }
    let (Some(standing), Some(line)) = (standings.get(&key).copied(), first_line) else {
        return Ok(None);
    };
    let Some(mut sub) = SubscriberFile::open(snapshot)?
        .keeping_rows(true)
        .flatten()
        .find(|s| s.line == line)
    else {
        return Ok(None);
    };
    settle(&mut sub, &columns, Some(&overlay));
    Ok(Some((standing, sub, columns)))
}

/// What a web sign-up's form said (its `pending` row): a proposal the
/// confirm page shows for the reader to correct, never a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The sign-up's time (Unix seconds), as its link seals it.
    pub at: u32,
    pub name: Option<Line>,
    /// Canonical tags (empty when none).
    pub tags: String,
}

/// Each address's latest sign-up row and what its form said. Only
/// `pending` rows are looked at closely: this is read over the whole list
/// when `serve` starts.
pub fn proposals(snapshot: &Snapshot) -> Result<FingerprintMap<Proposal>, Diagnostic> {
    let mut out = FingerprintMap::default();
    if snapshot.is_empty() {
        return Ok(out);
    }
    let path = snapshot.path();
    let cannot = |e: io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
    let mut reader = RowReader::new(snapshot.reader());
    let columns = Columns::read(path, &mut reader)?;
    let mut row = Row::default();
    while reader.read(&mut row).map_err(cannot)? {
        let judged = judge(&row, &columns);
        let (Some(email), Ok((Status::Pending, _, at))) = (judged.email, judged.says) else {
            continue;
        };
        let text = |i: Option<usize>| {
            crate::audience::list_file::undefuse(i.and_then(|i| row.text(i)).unwrap_or(""))
        };
        out.insert(
            fingerprint_of(email),
            Proposal {
                at: at.max(1),
                name: Some(text(columns.name))
                    .filter(|n| !n.is_empty())
                    .and_then(|n| Line::parse(n).ok()),
                tags: crate::audience::tags::canonical([text(columns.tags)]),
            },
        );
    }
    Ok(out)
}
