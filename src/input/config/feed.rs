//! `[feed]`: how `bulletin draft --from-feed` turns a site's feed into an
//! issue: the feed's address, the subject template, how many entries a
//! draft takes, and a CA file for a feed served over a private CA.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::input::toml_file::TomlFile;

/// The fields a `[feed] subject` may name, each `{{ name }}`.
pub const SUBJECT_FIELDS: [&str; 3] = ["count", "first_title", "date"];

/// The subject when `[feed]` gives none: the first entry's title.
pub const DEFAULT_SUBJECT: &str = "{{ first_title }}";

/// How many entries a draft takes when `[feed]` does not say.
pub const DEFAULT_MAX_ITEMS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The feed `draft` reads when `--from-feed` is not given: an http(s)
    /// URL, or a file (resolved against the config's folder).
    pub url: Option<String>,
    /// The subject template, its fields checked (`SUBJECT_FIELDS`).
    pub subject: String,
    /// 1 to 100.
    pub max_items: usize,
    /// Extra root certificate(s) for an https feed.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            url: None,
            subject: DEFAULT_SUBJECT.to_owned(),
            max_items: DEFAULT_MAX_ITEMS,
            tls_ca_file: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    url: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    max_items: Option<Spanned<i64>>,
    tls_ca_file: Option<String>,
}

pub(super) fn check_feed(file: &mut TomlFile, raw: RawFeed, dir: &Path) -> Option<Feed> {
    let mut ok = true;
    let url = raw.url.as_ref().and_then(|u| {
        let text = u.get_ref().trim();
        let fine = if text.contains("://") {
            url::Url::parse(text)
                .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
        } else {
            !text.is_empty()
        };
        if !fine {
            file.problem_at(
                u.span().start,
                "[feed] `url` must be an http(s) address like \"https://example.org/feed.xml\", or a file",
            );
            ok = false;
            return None;
        }
        Some(if text.contains("://") {
            text.to_owned()
        } else {
            dir.join(text).display().to_string()
        })
    });
    let subject = match &raw.subject {
        Some(s) => match subject_problem(s.get_ref()) {
            None => s.get_ref().trim().to_owned(),
            Some(why) => {
                file.problem_at(s.span().start, format!("[feed] `subject` {why}"));
                ok = false;
                String::new()
            }
        },
        None => DEFAULT_SUBJECT.to_owned(),
    };
    let max_items = match &raw.max_items {
        Some(n) => match usize::try_from(*n.get_ref()) {
            Ok(v) if (1..=100).contains(&v) => v,
            _ => {
                file.problem_at(
                    n.span().start,
                    format!(
                        "[feed] `max_items` is {}, but must be 1 to 100",
                        n.get_ref()
                    ),
                );
                ok = false;
                0
            }
        },
        None => DEFAULT_MAX_ITEMS,
    };
    ok.then(|| Feed {
        url,
        subject,
        max_items,
        tls_ca_file: raw.tls_ca_file.as_ref().map(|f| dir.join(f)),
    })
}

/// Why a subject template cannot be used, if it cannot: empty, a line
/// break, an unclosed `{{`, or a field other than `SUBJECT_FIELDS`.
fn subject_problem(template: &str) -> Option<String> {
    if template.trim().is_empty() {
        return Some("is empty".into());
    }
    if template.contains(['\r', '\n']) {
        return Some("contains a line break; it must be one line".into());
    }
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Some("has a `{{` without its `}}`".into());
        };
        let name = after[..end].trim();
        if !SUBJECT_FIELDS.contains(&name) {
            return Some(format!(
                "names {{{{ {name} }}}}; the fields are {{{{ count }}}}, {{{{ first_title }}}} and {{{{ date }}}}"
            ));
        }
        rest = &after[end + 2..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_may_name_the_three_fields_and_nothing_else() {
        assert_eq!(
            subject_problem("{{ count }} new: {{first_title}} ({{ date }})"),
            None
        );
        assert!(
            subject_problem("{{ name }}")
                .is_some_and(|w| w.contains("{{ name }}") && w.contains("first_title"))
        );
        assert!(subject_problem("News {{ count").is_some());
        assert!(subject_problem("  ").is_some());
        assert!(subject_problem("a\nb").is_some());
    }
}
