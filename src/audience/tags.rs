//! Readers' tags: the `tags` column (`japan; korea`, compared without
//! case). A reader's tags are those of their latest row that has any:
//! status changes leave the column empty and change no tags, and `bulletin
//! subscribe EMAIL --tag …` appends a row with the merged set.

use std::collections::HashMap;
use std::io::Read;

use crate::audience::rows::{Row, RowReader};
use crate::audience::subscribers::{Columns, Snapshot};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Fingerprint, FingerprintMap, fingerprint_of};
#[cfg(test)]
use crate::input::email::key_fingerprint;

/// Tags as they are compared and written: lower case, sorted, each once,
/// `;` between.
pub fn canonical<'a>(tags: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: Vec<String> = tags
        .into_iter()
        .flat_map(|t| t.split(';'))
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out.join(";")
}

/// Each tagged reader's tags, the distinct sets kept once: a million
/// readers with a handful of tag sets cost their fingerprints.
#[derive(Debug, Default)]
pub struct TagIndex {
    sets: Vec<String>,
    ids: HashMap<String, u32>,
    of: FingerprintMap<u32>,
}

impl TagIndex {
    /// Reads the list's tags (an empty index when it has no `tags` column).
    pub fn read(snapshot: &Snapshot) -> Result<Self, Diagnostic> {
        let mut reader = RowReader::new(snapshot.reader());
        let columns = Columns::read(snapshot.path(), &mut reader)?;
        let mut index = Self::default();
        index
            .scan(&mut reader, &columns)
            .map_err(|e| Diagnostic::new(snapshot.path(), None, format!("cannot be read: {e}")))?;
        Ok(index)
    }

    fn scan<R: Read>(
        &mut self,
        reader: &mut RowReader<R>,
        columns: &Columns,
    ) -> std::io::Result<()> {
        let Some(at) = columns.tags else {
            return Ok(());
        };
        let mut row = Row::default();
        while reader.read(&mut row)? {
            if row.damage.is_some() {
                continue;
            }
            let (Some(email), Some(tags)) = (row.text(columns.email), row.text(at)) else {
                continue;
            };
            let email = crate::audience::list_file::undefuse(email);
            let tags = canonical([crate::audience::list_file::undefuse(tags)]);
            if tags.is_empty() || !email.contains('@') {
                continue;
            }
            let next = self.sets.len() as u32;
            let id = *self.ids.entry(tags.clone()).or_insert(next);
            if id == next {
                self.sets.push(tags);
            }
            self.of.insert(fingerprint_of(email), id);
        }
        Ok(())
    }

    /// Every tagged reader and their tags.
    pub fn readers(&self) -> impl Iterator<Item = (&Fingerprint, &str)> {
        self.of
            .iter()
            .filter_map(|(k, i)| self.sets.get(*i as usize).map(|t| (k, t.as_str())))
    }

    /// A reader's tags (canonical; empty when none).
    pub fn of(&self, key: &Fingerprint) -> &str {
        self.of
            .get(key)
            .and_then(|i| self.sets.get(*i as usize))
            .map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_compare_without_case_and_the_latest_tagged_row_counts() {
        assert_eq!(canonical(["Korea; japan ;JAPAN;"]), "japan;korea");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("list.csv");
        std::fs::write(
            &path,
            "email,name,status,tags\nann@x.org,Ann,,Japan\nbo@x.org,Bo,,\nann@x.org,,unsubscribed,\nANN@x.org,,subscribed,japan;Staff\n",
        )
        .expect("write");
        let index = TagIndex::read(&Snapshot::take(&path).expect("snap")).expect("read");
        assert_eq!(index.of(&key_fingerprint("ann@x.org")), "japan;staff");
        assert_eq!(index.of(&key_fingerprint("bo@x.org")), "");
        assert_eq!(
            index.sets,
            vec!["japan".to_owned(), "japan;staff".to_owned()]
        );
    }
}
