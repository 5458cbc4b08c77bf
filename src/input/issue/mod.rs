//! An issue file (TOML) read into an `Issue`: its date, optional subject,
//! intro and preheader, and the stories, every value checked with its line.

mod images;
mod translation;

pub use crate::input::config::Format;
pub use crate::input::date::IssueDate;
use images::read_images;
pub use translation::Translation;

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::input::checked::Line;
use crate::input::config::Newsletter;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::fields::{FieldText, Spot};
use crate::input::lang::Lang;
use crate::input::markdown::{Markdown, Media, check_url};
use crate::input::media::LocalImage;
use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone)]
pub struct Issue {
    /// The issue file's stem, such as `2022-08-01`: what names its delivery
    /// log and, with the address, its Message-IDs.
    pub id: String,
    /// The file it was read from, as given.
    pub file: std::path::PathBuf,
    pub subject: Option<Line>,
    /// The name the public sees (archive, feed, Open Graph, the dry-run's
    /// folder): needed when the subject holds fields, so a page never
    /// shows a default where a reader's name was.
    pub title: Option<Line>,
    /// The issue's date; a letter may go without one.
    pub date: Option<IssueDate>,
    pub layout: Layout,
    /// `format`: what the mail carries; the newsletter's when not set
    /// (`Issue::format_in`).
    pub format: Option<Format>,
    pub number: Option<u32>,
    pub preheader: Option<Line>,
    pub intro: Option<Markdown>,
    pub stories: Vec<Story>,
    /// Whether the issue goes into the web archive once sent (`archive =
    /// false` keeps it out).
    pub archive: bool,
    /// Which readers get it, by their tags (`[audience]`); everyone
    /// without one.
    pub audience: Option<Audience>,
    /// The texts that hold per-reader fields (`{{ name }}`), as written;
    /// empty for an issue that is the same for every reader.
    pub fields: Vec<FieldText>,
    /// The local image files its intro and bodies show, each once.
    pub images: Vec<LocalImage>,
    /// Where those images are once published, with their sizes
    /// (`place_images`); empty until then.
    pub media: Media,
    /// The address they were placed under, for a translation's images.
    pub media_base: Option<String>,
    /// The language this is written in: `None` for the newsletter's;
    /// a translation's own (`translated`).
    pub lang: Option<Lang>,
    /// `[lang.<tag>]`: the issue in other languages, each with every text
    /// the issue has.
    pub translations: Vec<Translation>,
}

/// `[audience]`: the readers with any of `tags` (every reader when it is
/// empty), less those with any of `exclude`. Tags are compared without
/// case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub tags: Vec<String>,
    pub exclude: Vec<String>,
}

impl Audience {
    /// Whether a reader with `tags` (canonical: lower case, `;` between,
    /// as `audience::tags::canonical` makes them) is in it.
    pub fn takes(&self, tags: &str) -> bool {
        let has = |t: &String| tags.split(';').any(|r| r == t);
        (self.tags.is_empty() || self.tags.iter().any(has)) && !self.exclude.iter().any(has)
    }

    /// "tags: japan; not: staff", as `send` and `check` say it, and as the
    /// delivery log's fingerprint records it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.tags.is_empty() {
            parts.push(format!("tags: {}", self.tags.join(", ")));
        }
        if !self.exclude.is_empty() {
            parts.push(format!("not: {}", self.exclude.join(", ")));
        }
        parts.join("; ")
    }
}

/// How the stories are laid out (`layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// A dateline (and number), the Headlines list, then the Details.
    #[default]
    Digest,
    /// A letter: no dateline or number, no Headlines/Details, the stories
    /// as plain sections (one story: just its text). The welcome mail.
    Letter,
}

#[derive(Debug, Clone)]
pub struct Story {
    pub headline: Line,
    pub body: Markdown,
    /// "Read more" target: an absolute http(s) URL.
    pub link: Option<String>,
}

impl Issue {
    /// What the mail carries: the issue's `format`, else the newsletter's.
    pub fn format_in(&self, newsletter: &Newsletter) -> Format {
        self.format.unwrap_or(newsletter.format)
    }

    /// The language it is written in: its own, else the newsletter's.
    pub fn lang_in<'a>(&'a self, newsletter: &'a Newsletter) -> &'a Lang {
        self.lang.as_ref().unwrap_or(&newsletter.lang)
    }

    /// The subject line: the issue's own, or "<name>: <date>" (with the
    /// number, when there is one), in the issue's language.
    pub fn subject(&self, newsletter: &Newsletter) -> String {
        let words = newsletter.words(self.lang_in(newsletter));
        match (&self.subject, self.number, self.date) {
            (Some(s), _, _) => s.to_string(),
            (None, Some(n), Some(date)) => format!(
                "{} {}: {}",
                newsletter.name,
                words.numbered(n),
                words.date(date)
            ),
            (None, _, Some(date)) => format!("{}: {}", newsletter.name, words.date(date)),
            (None, _, None) => newsletter.name.to_string(),
        }
    }

    /// The issue's name for the public (the archive, the feed, link
    /// previews): its `title`, else its subject (which then holds no
    /// field: `load` refuses that).
    pub fn title(&self, newsletter: &Newsletter) -> String {
        match &self.title {
            Some(t) => t.to_string(),
            None => self.subject(newsletter),
        }
    }

    /// The hidden line inbox lists show after the subject: the issue's own;
    /// else a digest's headlines, or the opening words of a letter.
    pub fn preheader(&self) -> String {
        if let Some(p) = &self.preheader {
            return p.to_string();
        }
        match self.layout {
            Layout::Digest => self
                .stories
                .iter()
                .map(|s| s.headline.as_str())
                .collect::<Vec<_>>()
                .join(" · "),
            Layout::Letter => {
                let opening = self
                    .intro
                    .as_ref()
                    .or(self.stories.first().map(|s| &s.body));
                let words = opening.map(Markdown::plain_words).unwrap_or_default();
                shortened(&words, 120)
            }
        }
    }

    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let mut file = TomlFile::read(path)?;
        let raw: RawIssue = file.deserialize()?;
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "issue".into());
        if raw.story.is_empty() {
            return Err(Diagnostics(vec![Diagnostic::new(
                path,
                None,
                "the issue has no stories; add at least one [[story]] with a headline and a body",
            )]));
        }
        let issue = check_issue(&mut file, raw, id);
        file.finish(issue)
    }
}

/// `text` cut at a word to at most `max` characters, with "…" when cut.
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssue {
    subject: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    date: Option<Spanned<toml::value::Datetime>>,
    layout: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    number: Option<u32>,
    preheader: Option<Spanned<String>>,
    intro: Option<Spanned<String>>,
    archive: Option<bool>,
    audience: Option<Spanned<RawAudience>>,
    #[serde(default)]
    story: Vec<RawStory>,
    #[serde(default)]
    lang: std::collections::BTreeMap<Spanned<String>, Spanned<translation::RawTranslation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudience {
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    exclude_tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStory {
    headline: Spanned<String>,
    body: Spanned<String>,
    link: Option<Spanned<String>>,
}

/// The reader's fields in the texts that may hold them (`subject`,
/// `preheader`, `intro`, each story's headline and body), of the issue or
/// of a translation; false when one was refused (reported at its line).
fn fields_in<'a>(
    file: &mut TomlFile,
    [subject, preheader, intro]: [&'a Option<Spanned<String>>; 3],
    stories: impl Iterator<Item = (&'a Spanned<String>, &'a Spanned<String>)>,
) -> (Vec<FieldText>, bool) {
    let mut texts: Vec<(Spot, &'static str, &Spanned<String>)> = Vec::new();
    texts.extend(subject.as_ref().map(|v| (Spot::Subject, "subject", v)));
    texts.extend(
        preheader
            .as_ref()
            .map(|v| (Spot::Preheader, "preheader", v)),
    );
    texts.extend(intro.as_ref().map(|v| (Spot::Intro, "intro", v)));
    for (i, (headline, body)) in stories.enumerate() {
        texts.push((Spot::Headline(i), "headline", headline));
        texts.push((Spot::Body(i), "body", body));
    }
    let (mut fields, mut ok) = (Vec::new(), true);
    for (spot, key, value) in texts {
        match file.fields(spot, key, value) {
            Some(found) => fields.extend(found),
            None => ok = false,
        }
    }
    (fields, ok)
}

fn check_issue(file: &mut TomlFile, raw: RawIssue, id: String) -> Option<Issue> {
    let (fields, mut ok) = fields_in(
        file,
        [&raw.subject, &raw.preheader, &raw.intro],
        raw.story.iter().map(|s| (&s.headline, &s.body)),
    );
    let subject = raw.subject.as_ref().and_then(|v| {
        let l = file.line("subject", v);
        ok &= l.is_some();
        l
    });
    let preheader = raw.preheader.as_ref().and_then(|v| {
        let l = file.line("preheader", v);
        ok &= l.is_some();
        l
    });
    let intro = raw.intro.as_ref().and_then(|v| {
        let md = file.markdown("intro", v);
        ok &= md.is_some();
        md
    });
    let title = raw.title.as_ref().and_then(|v| {
        if v.get_ref().contains("{{") {
            file.problem_at(
                v.span().start,
                "`title` is what everyone sees (the archive, the feed): it cannot hold a reader's field",
            );
            ok = false;
            return None;
        }
        let l = file.line("title", v);
        ok &= l.is_some();
        l
    });
    // A subject that holds a field names nobody on a public page: the
    // archive and the feed need a `title` then.
    if let Some(subject) = &raw.subject
        && raw.title.is_none()
        && raw.archive != Some(false)
        && fields.iter().any(|f| f.spot == Spot::Subject)
    {
        file.problem_at(
            subject.span().start,
            "the subject holds a reader's field, and the archive and feed show an issue's title to everyone: add `title = \"…\"` (the name for the public), or `archive = false`",
        );
        ok = false;
    }
    let layout = match raw.layout.as_ref().map(|v| (v.get_ref().as_str(), v)) {
        None | Some(("digest", _)) => Layout::Digest,
        Some(("letter", _)) => Layout::Letter,
        Some((other, v)) => {
            file.problem_at(
                v.span().start,
                format!("`layout` is \"digest\" (the default) or \"letter\", not {other:?}"),
            );
            ok = false;
            Layout::Digest
        }
    };
    let format = raw.format.as_ref().and_then(|v| {
        let f = Format::parse(v.get_ref())
            .map_err(|why| file.problem_at(v.span().start, why))
            .ok();
        ok &= f.is_some();
        f
    });
    let date = match &raw.date {
        Some(date) => match (date.get_ref().date, date.get_ref().time) {
            (Some(d), None) => Some(Some(IssueDate {
                year: d.year,
                month: d.month,
                day: d.day,
            })),
            _ => {
                file.problem_at(
                    date.span().start,
                    "`date` must be a plain date such as 2022-08-01, without a time",
                );
                None
            }
        },
        None if layout == Layout::Letter => Some(None),
        None => {
            file.problem_at(
                0,
                "the issue has no `date`: a digest carries a dateline; add `date = 2026-12-02`, or `layout = \"letter\"` for a letter without one",
            );
            None
        }
    };
    let stories: Vec<Option<Story>> = raw.story.iter().map(|s| check_story(file, s)).collect();
    let images = {
        let mut texts: Vec<(&Markdown, &Spanned<String>)> = Vec::new();
        if let (Some(md), Some(raw)) = (&intro, &raw.intro) {
            texts.push((md, raw));
        }
        for (story, raw) in stories.iter().zip(&raw.story) {
            if let Some(story) = story {
                texts.push((&story.body, &raw.body));
            }
        }
        read_images(file, &texts)
    };
    ok &= images.is_some();
    let audience = match &raw.audience {
        None => None,
        Some(a) => {
            let clean = |tags: &[String]| -> Option<Vec<String>> {
                let mut out: Vec<String> = Vec::new();
                for t in tags {
                    let t = t.trim().to_lowercase();
                    if t.is_empty() || t.contains(';') || t.chars().any(char::is_control) {
                        return None;
                    }
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                Some(out)
            };
            match (clean(&a.get_ref().tags), clean(&a.get_ref().exclude_tags)) {
                (Some(tags), Some(exclude)) if !(tags.is_empty() && exclude.is_empty()) => {
                    Some(Audience { tags, exclude })
                }
                _ => {
                    file.problem_at(
                        a.span().start,
                        "[audience] needs `tags` and/or `exclude_tags`: lists of tags, each without `;`",
                    );
                    ok = false;
                    None
                }
            }
        }
    };
    let translations = translation::check(file, &raw);
    ok &= translations.is_some();
    if !ok {
        return None;
    }
    Some(Issue {
        id,
        file: file.path.clone(),
        subject,
        title,
        date: date?,
        layout,
        format,
        number: raw.number,
        preheader,
        intro,
        stories: stories.into_iter().collect::<Option<Vec<_>>>()?,
        archive: raw.archive.unwrap_or(true),
        audience,
        fields,
        images: images?,
        media: Media::default(),
        media_base: None,
        lang: None,
        translations: translations?,
    })
}

fn check_story(file: &mut TomlFile, raw: &RawStory) -> Option<Story> {
    let headline = file.line("headline", &raw.headline);
    let body = file.markdown("body", &raw.body);
    let link = match &raw.link {
        Some(v) => match check_url(v.get_ref().trim()) {
            Ok(()) if !v.get_ref().trim_start().starts_with("mailto:") => {
                Some(Some(v.get_ref().trim().to_owned()))
            }
            Ok(()) => {
                file.problem_at(v.span().start, "`link` must be an http(s) URL");
                None
            }
            Err(why) => {
                file.problem_at(v.span().start, format!("`link` {why}"));
                None
            }
        },
        None => Some(None),
    };
    Some(Story {
        headline: headline?,
        body: body?,
        link: link?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_a_masthead() {
        let d = IssueDate {
            year: 2022,
            month: 8,
            day: 1,
        };
        assert_eq!(d.to_string(), "August 1, 2022");
    }
}
