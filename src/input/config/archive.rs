//! `[archive]`: the newsletter on the web, a static site of the issues
//! that were sent, with an Atom feed (`bulletin archive`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Where the site is published, without a trailing slash: an issue's
    /// page is `{url}/{issue file stem}/`.
    pub url: String,
    /// The folder of issue files (resolved against the config's folder).
    pub issues: PathBuf,
    pub title: Option<String>,
    pub description: Option<String>,
}

impl Archive {
    /// The URL of an issue's page.
    pub fn page_url(&self, issue_id: &str) -> String {
        format!("{}/{issue_id}/", self.url)
    }

    /// The URL of an issue's page in a language (`{url}/{id}/{lang}/`),
    /// or in the newsletter's (`lang` none).
    pub fn page_url_in(&self, issue_id: &str, lang: Option<&crate::input::lang::Lang>) -> String {
        match lang {
            Some(lang) => format!("{}/{issue_id}/{lang}/", self.url),
            None => self.page_url(issue_id),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    url: Option<Spanned<String>>,
    issues: Option<String>,
    title: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
}

/// `public_url` is `[serve]`'s, when there is one: the default site is
/// served by `bulletin serve` under `/archive`.
pub(super) fn check_archive(
    file: &mut TomlFile,
    raw: Spanned<RawArchive>,
    dir: &Path,
    public_url: Option<&str>,
) -> Option<Archive> {
    let at = raw.span().start;
    let raw = raw.into_inner();
    let url = match (&raw.url, public_url) {
        (Some(u), _) => {
            let url = u.get_ref().trim().trim_end_matches('/').to_owned();
            let ok = url::Url::parse(&url).is_ok_and(|p| {
                matches!(p.scheme(), "https" | "http")
                    && p.host().is_some()
                    && p.query().is_none()
                    && p.fragment().is_none()
            });
            if !ok {
                file.problem_at(
                    u.span().start,
                    "[archive] `url` must be the https address the site is published at, like \"https://news.example.org/archive\"",
                );
                return None;
            }
            url
        }
        (None, Some(public)) => format!("{public}/archive"),
        (None, None) => {
            file.problem_at(
                at,
                "[archive] needs `url` (where the site is published), or [serve] with `public_url`",
            );
            return None;
        }
    };
    let mut ok = true;
    let mut line = |key: &str, v: &Option<Spanned<String>>| {
        v.as_ref().and_then(|v| {
            let l = file.line(key, v);
            ok &= l.is_some();
            l.map(|l| l.to_string())
        })
    };
    let title = line("title", &raw.title);
    let description = line("description", &raw.description);
    ok.then(|| Archive {
        url,
        issues: dir.join(raw.issues.as_deref().unwrap_or("issues")),
        title,
        description,
    })
}
