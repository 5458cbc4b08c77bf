//! Readers' tags: the `tags` column (`japan; korea`, compared without
//! case). A reader's tags are a detail like any column (`details`): those
//! of their latest row that gives any and may set details (never a web
//! sign-up's `pending` row); status changes leave the column empty and
//! change no tags, and `bulletin subscribe EMAIL --tag …` appends a row
//! with the merged set.

use std::collections::HashMap;

#[cfg(test)]
use crate::input::email::key_fingerprint;
use crate::input::email::{Fingerprint, FingerprintMap};

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
    /// For about `readers` tagged readers: sized once, so that the map
    /// never holds its old and new tables at once while it grows (at a
    /// million readers, 20 MiB more at the peak of a pass).
    pub fn with_capacity(readers: usize) -> Self {
        Self {
            of: FingerprintMap::with_capacity_and_hasher(readers, Default::default()),
            ..Self::default()
        }
    }

    /// Sets a reader's tags (canonical; an empty set is no change: a row
    /// that does not give tags keeps the earlier ones).
    pub fn set(&mut self, key: Fingerprint, tags: &str) {
        let tags = canonical([tags]);
        if tags.is_empty() {
            return;
        }
        let next = self.sets.len() as u32;
        let id = *self.ids.entry(tags.clone()).or_insert(next);
        if id == next {
            self.sets.push(tags);
        }
        self.of.insert(key, id);
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
    fn tags_compare_without_case_and_an_empty_set_changes_nothing() {
        assert_eq!(canonical(["Korea; japan ;JAPAN;"]), "japan;korea");
        let mut index = TagIndex::default();
        let ann = key_fingerprint("ann@x.org");
        index.set(ann, "Japan");
        index.set(ann, "");
        assert_eq!(index.of(&ann), "japan");
        index.set(ann, "japan;Staff");
        index.set(key_fingerprint("bo@x.org"), "STAFF; japan");
        assert_eq!(index.of(&ann), "japan;staff");
        assert_eq!(index.of(&key_fingerprint("cy@x.org")), "");
        assert_eq!(
            index.sets,
            vec!["japan".to_owned(), "japan;staff".to_owned()]
        );
    }
}
