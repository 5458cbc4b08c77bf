//! `[lang.<tag>]` in an issue: its texts in another language, checked
//! against the issue (every text it has, none it lacks, a story for each
//! story, each one missing or extra a problem at its line), and the issue
//! as that language's readers get it.

use serde::Deserialize;
use toml::Spanned;

use super::{Issue, RawIssue, RawStory, Story, check_story, fields_in, read_images};
use crate::input::checked::Line;
use crate::input::diagnostic;
use crate::input::fields::{FieldText, Spot};
use crate::input::lang::Lang;
use crate::input::markdown::{Markdown, Media};
use crate::input::media::LocalImage;
use crate::input::toml_file::TomlFile;

/// `[lang.<tag>]`: the issue's texts in another language, story for story.
#[derive(Debug, Clone)]
pub struct Translation {
    pub lang: Lang,
    /// The line of its `[lang.<tag>]` table.
    pub line: usize,
    pub subject: Option<Line>,
    pub title: Option<Line>,
    pub preheader: Option<Line>,
    pub intro: Option<Markdown>,
    /// One for each of the issue's stories, in order; a link left out is
    /// the issue's.
    pub stories: Vec<Story>,
    pub fields: Vec<FieldText>,
    pub images: Vec<LocalImage>,
}

impl Issue {
    /// The issue as readers of `t`'s language get it: its texts, the
    /// issue's links where it gives none.
    pub fn translated(&self, t: &Translation) -> Issue {
        let mut issue = self.clone();
        issue.lang = Some(t.lang.clone());
        issue.subject = t.subject.clone();
        issue.title = t.title.clone();
        issue.preheader = t.preheader.clone();
        issue.intro = t.intro.clone();
        issue.stories = t
            .stories
            .iter()
            .zip(&self.stories)
            .map(|(ts, s)| Story {
                headline: ts.headline.clone(),
                body: ts.body.clone(),
                link: ts.link.clone().or_else(|| s.link.clone()),
            })
            .collect();
        issue.fields = t.fields.clone();
        issue.images = t.images.clone();
        issue.media = Media::default();
        // Its images placed where the issue's are.
        if let Some(base) = self.media_base.clone() {
            issue.place_images(&base);
        }
        issue.translations = Vec::new();
        issue
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTranslation {
    subject: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    preheader: Option<Spanned<String>>,
    intro: Option<Spanned<String>>,
    #[serde(default)]
    story: Vec<Spanned<RawStory>>,
}

/// Every `[lang.<tag>]` of the issue checked against it; `None` once each
/// problem is reported at its line.
pub(super) fn check(file: &mut TomlFile, raw: &RawIssue) -> Option<Vec<Translation>> {
    let mut ok = true;
    let mut out = Vec::new();
    for (tag, table) in &raw.lang {
        let line = diagnostic::line_col(&file.src, tag.span().start).0;
        let lang = match Lang::parse(tag.get_ref()) {
            Ok(l) => l,
            Err(why) => {
                file.problem_at(tag.span().start, format!("[lang.{}]: {why}", tag.get_ref()));
                ok = false;
                continue;
            }
        };
        if let Some(first) = out.iter().find(|t: &&Translation| t.lang == lang) {
            file.problem_at(
                tag.span().start,
                format!(
                    "[lang.{}] is the same language ({}) as the table at line {}: one table a language",
                    tag.get_ref(),
                    first.lang,
                    first.line
                ),
            );
            ok = false;
            continue;
        }
        match one(file, raw, table.get_ref(), (tag.get_ref(), &lang, line)) {
            Some(texts) => out.push(Translation {
                lang,
                line,
                ..texts
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One `[lang.<tag>]` checked: its texts (with `lang` and `line` for the
/// caller to fill in), or `None` after reporting every problem.
fn one(
    file: &mut TomlFile,
    raw: &RawIssue,
    t: &RawTranslation,
    (tag, lang, line): (&str, &Lang, usize),
) -> Option<Translation> {
    let mut ok = true;
    let name = format!("[lang.{tag}]");
    // Each text: there in both, or in neither.
    let pairs: [(&str, bool, Option<&Spanned<String>>); 4] = [
        ("subject", raw.subject.is_some(), t.subject.as_ref()),
        ("title", raw.title.is_some(), t.title.as_ref()),
        ("preheader", raw.preheader.is_some(), t.preheader.as_ref()),
        ("intro", raw.intro.is_some(), t.intro.as_ref()),
    ];
    for (key, in_issue, translated) in pairs {
        match (in_issue, translated) {
            (true, None) => {
                file.problem_on_line(
                    line,
                    format!(
                        "{name} has no `{key}`: the issue has one, and its readers would get it untranslated"
                    ),
                );
                ok = false;
            }
            (false, Some(v)) => {
                file.problem_at(
                    v.span().start,
                    format!(
                        "{name} has a `{key}` the issue does not have: add it to the issue, or remove it here"
                    ),
                );
                ok = false;
            }
            _ => {}
        }
    }
    let (fields, fine) = fields_in(
        file,
        [&t.subject, &t.preheader, &t.intro],
        t.story
            .iter()
            .map(|s| (&s.get_ref().headline, &s.get_ref().body)),
    );
    ok &= fine;
    // As for the issue: the public name holds no reader's field, and a
    // subject that does needs one (unless the issue stays out of the
    // archive).
    if let Some(v) = t.title.as_ref().filter(|v| v.get_ref().contains("{{")) {
        file.problem_at(
            v.span().start,
            format!("{name} `title` is what everyone sees (the archive, the feed): it cannot hold a reader's field"),
        );
        ok = false;
    }
    if let Some(v) = &t.subject
        && t.title.is_none()
        && raw.archive != Some(false)
        && fields.iter().any(|f| f.spot == Spot::Subject)
    {
        file.problem_at(
            v.span().start,
            format!("{name}: the subject holds a reader's field, and the archive shows an issue's title to everyone: add `title = \"…\"` here and in the issue, or `archive = false`"),
        );
        ok = false;
    }
    let mut line_of = |key: &str, v: &Spanned<String>| {
        let l = file.line(key, v);
        ok &= l.is_some();
        l
    };
    let subject = t.subject.as_ref().and_then(|v| line_of("subject", v));
    let title = t.title.as_ref().and_then(|v| line_of("title", v));
    let preheader = t.preheader.as_ref().and_then(|v| line_of("preheader", v));
    let intro = t.intro.as_ref().and_then(|v| {
        let md = file.markdown("intro", v);
        ok &= md.is_some();
        md
    });
    if t.story.len() < raw.story.len() {
        let missing: Vec<String> = raw.story[t.story.len()..]
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} ({:?})", t.story.len() + i + 1, s.headline.get_ref()))
            .collect();
        file.problem_on_line(
            line,
            format!(
                "{name} translates {} of the issue's {} stories: story {} has no [[lang.{tag}.story]]; every story needs one, in the issue's order",
                t.story.len(),
                raw.story.len(),
                missing.join(", "),
            ),
        );
        ok = false;
    }
    for extra in t.story.iter().skip(raw.story.len()) {
        file.problem_at(
            extra.span().start,
            format!(
                "{name}: this story is one more than the issue has ({}); each [[lang.{tag}.story]] translates the issue's story in the same place",
                raw.story.len()
            ),
        );
        ok = false;
    }
    let stories: Vec<Option<Story>> = t
        .story
        .iter()
        .take(raw.story.len())
        .map(|s| check_story(file, s.get_ref()))
        .collect();
    let images = {
        let mut texts: Vec<(&Markdown, &Spanned<String>)> = Vec::new();
        if let (Some(md), Some(raw)) = (&intro, &t.intro) {
            texts.push((md, raw));
        }
        for (story, raw) in stories.iter().zip(&t.story) {
            if let Some(story) = story {
                texts.push((&story.body, &raw.get_ref().body));
            }
        }
        read_images(file, &texts)
    };
    let stories: Option<Vec<Story>> = stories.into_iter().collect();
    let (stories, images) = (stories?, images?);
    ok.then(|| Translation {
        lang: lang.clone(),
        line,
        subject,
        title,
        preheader,
        intro,
        stories,
        fields,
        images,
    })
}
