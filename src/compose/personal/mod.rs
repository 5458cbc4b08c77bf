//! Per-reader fields filled in. The issue is rendered once, with a mark
//! where each field's value goes (`render::mark`); each reader's values
//! come from minijinja, rendering the texts that hold fields with the
//! reader's row, and go in where the marks are, escaped for the part they
//! land in. So a value is never read as Markdown or HTML, and an issue
//! costs one render whatever the number of readers.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind};

use crate::compose::render::{MAX_FIELDS, mark};
use crate::input::checked::Line;
use crate::input::config::Newsletter;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::email::Email;
use crate::input::fields::{self, FieldText, Spot};
use crate::input::issue::Issue;
use crate::input::markdown::Markdown;

mod reader;

pub use reader::FieldNames;
use reader::{Probe, Reader};

/// What minijinja writes around each value it puts out, so the values of
/// one rendering can be told from the text around them (a value and the
/// texts hold no control characters: see `fields::check` and `formatter`).
const OPEN: char = '\u{1}';
const CLOSE: char = '\u{2}';

/// One reader's values, in the order of the marks.
pub type Values = Vec<String>;

/// A text that holds fields, compiled.
#[derive(Debug)]
struct Compiled {
    text: FieldText,
    name: String,
    /// How many values it puts out (its marks follow the texts' before
    /// it).
    count: usize,
    /// Every field it names, and those it needs a value of (used without
    /// `default`).
    fields: BTreeSet<String>,
    required: BTreeSet<String>,
}

/// The issue's texts that hold fields, ready to fill in for any reader.
pub struct Personal {
    strict: Environment<'static>,
    lenient: Environment<'static>,
    texts: Vec<Compiled>,
    marks: usize,
}

impl std::fmt::Debug for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personal")
            .field("texts", &self.texts)
            .field("marks", &self.marks)
            .finish()
    }
}

/// Why a reader's values could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    /// The fields used without `default` that are empty for the reader.
    pub empty: Vec<String>,
    /// The issue (or config) file and line of the text.
    pub path: PathBuf,
    pub line: usize,
    pub detail: String,
}

impl std::fmt::Display for Unfilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.empty.is_empty() {
            write!(
                f,
                "{} (at {}:{})",
                self.detail,
                self.path.display(),
                self.line
            )
        } else {
            let names: Vec<String> = self.empty.iter().map(|n| format!("`{n}`")).collect();
            write!(
                f,
                "{} {} empty, and {}:{} uses it without a default (write {{{{ {} | default(\"…\") }}}} or fill the column)",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                self.path.display(),
                self.line,
                self.empty[0]
            )
        }
    }
}

fn formatter(
    out: &mut minijinja::Output<'_>,
    _: &minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let text = if value.is_undefined() || value.is_none() {
        String::new()
    } else {
        value.to_string()
    };
    let io = |e: std::fmt::Error| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string());
    out.write_char(OPEN).map_err(io)?;
    for c in text.chars() {
        out.write_char(if c.is_control() { ' ' } else { c })
            .map_err(io)?;
    }
    out.write_char(CLOSE).map_err(io)
}

/// The texts between the marks (`n + 1` of them) and the `n` values of
/// one rendering.
fn split(rendered: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut texts, mut values) = (Vec::new(), Vec::new());
    let mut rest = rendered;
    while let Some(open) = rest.find(OPEN) {
        texts.push(&rest[..open]);
        let after = &rest[open + OPEN.len_utf8()..];
        let close = after.find(CLOSE).unwrap_or(after.len());
        values.push(&after[..close]);
        rest = after.get(close + CLOSE.len_utf8()..).unwrap_or("");
    }
    texts.push(rest);
    (texts, values)
}

fn text_of<'a>(newsletter: &'a Newsletter, issue: &'a Issue) -> Vec<&'a FieldText> {
    issue
        .fields
        .iter()
        .chain(newsletter.about_fields.as_ref())
        .collect()
}

impl Personal {
    /// The fields of the issue (and the newsletter's footer), and the
    /// issue and newsletter with a mark where each value goes; `None`
    /// when neither holds a field.
    pub fn new(
        newsletter: &Newsletter,
        issue: &Issue,
    ) -> Result<Option<(Self, Newsletter, Issue)>, Diagnostics> {
        let found = text_of(newsletter, issue);
        if found.is_empty() {
            return Ok(None);
        }
        let mut personal = Personal {
            strict: fields::environment(true),
            lenient: fields::environment(false),
            texts: Vec::new(),
            marks: 0,
        };
        personal.strict.set_formatter(formatter);
        personal.lenient.set_formatter(formatter);
        let mut problems = Vec::new();
        let mut skeletons = Vec::new();
        for text in found {
            let name = text.name();
            let add = |env: &mut Environment<'static>| {
                env.add_template_owned(name.clone(), text.source.clone())
            };
            if let Err(e) = add(&mut personal.strict).and_then(|()| add(&mut personal.lenient)) {
                problems.push(at(text, e.line().unwrap_or(1), fields::describe(&e)));
                continue;
            }
            let tmpl = personal.strict.get_template(&name).map_err(|e| {
                Diagnostics(vec![at(text, e.line().unwrap_or(1), fields::describe(&e))])
            })?;
            let probe = |missing: Option<&str>| {
                tmpl.render(Value::from_object(Probe(missing.map(str::to_owned))))
            };
            let rendered = match probe(None) {
                Ok(r) => r,
                Err(e) => {
                    let line = e.line().unwrap_or(1);
                    problems.push(at(text, line, fields::describe(&e)));
                    continue;
                }
            };
            let fields: BTreeSet<String> = tmpl.undeclared_variables(false).into_iter().collect();
            let required = fields
                .iter()
                .filter(
                    |f| matches!(probe(Some(f)), Err(e) if e.kind() == ErrorKind::UndefinedError),
                )
                .cloned()
                .collect();
            let (between, values) = split(&rendered);
            let first = personal.marks;
            let mut skeleton = String::new();
            for (i, piece) in between.iter().enumerate() {
                skeleton.push_str(piece);
                if i < values.len() {
                    skeleton.push(mark(first + i));
                }
            }
            personal.marks += values.len();
            if personal.marks >= MAX_FIELDS {
                problems.push(at(text, 1, format!("more than {MAX_FIELDS} fields")));
                break;
            }
            personal.texts.push(Compiled {
                text: text.clone(),
                name,
                count: values.len(),
                fields,
                required,
            });
            skeletons.push((text.clone(), skeleton));
        }
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        let (newsletter, issue) =
            replaced(newsletter, issue, &skeletons).map_err(|d| Diagnostics(vec![d]))?;
        Ok(Some((personal, newsletter, issue)))
    }

    /// Every field the texts name.
    pub fn fields(&self) -> BTreeSet<&str> {
        self.texts
            .iter()
            .flat_map(|t| t.fields.iter().map(String::as_str))
            .collect()
    }

    /// Each field used without `default`, with the `file:line` of the
    /// first text that does.
    pub fn required(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.texts {
            for f in &t.required {
                if out.iter().all(|(g, _)| g != f) {
                    let at = format!("{}:{}", t.text.path.display(), t.text.line_of(f));
                    out.push((f.clone(), at));
                }
            }
        }
        out
    }

    /// A problem for each field that is no column of the list, at the
    /// line of the text that uses it first.
    pub fn unknown(&self, names: &FieldNames, list: &std::path::Path) -> Vec<Diagnostic> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for t in &self.texts {
            for f in &t.fields {
                if names.knows(f) || !seen.insert(f.clone()) {
                    continue;
                }
                out.push(Diagnostic::new(
                    &t.text.path,
                    Some(t.text.line_of(f)),
                    format!(
                        "`{}` uses {{{{ {f} }}}}, but {} has no column `{f}` (fields: {})",
                        t.text.key,
                        list.display(),
                        names.listing()
                    ),
                ));
            }
        }
        out
    }

    /// One reader's values, in the order of the marks.
    pub fn values(
        &self,
        names: &Arc<FieldNames>,
        email: &Email,
        row: &Arc<[Box<str>]>,
    ) -> Result<Values, Unfilled> {
        let reader = || Reader {
            names: names.clone(),
            email: email.as_str().to_owned(),
            row: row.clone(),
        };
        let ctx = Value::from_object(reader());
        let mut out = Vec::with_capacity(self.marks);
        for t in &self.texts {
            let rendered = self
                .strict
                .get_template(&t.name)
                .and_then(|tmpl| tmpl.render(&ctx))
                .map_err(|e| Unfilled {
                    empty: t
                        .required
                        .iter()
                        .filter(|f| reader().get(f).is_empty())
                        .cloned()
                        .collect(),
                    path: t.text.path.clone(),
                    line: t.text.file_line(e.line().unwrap_or(1)),
                    detail: fields::describe(&e),
                })?;
            let (_, values) = split(&rendered);
            if values.len() != t.count {
                return Err(Unfilled {
                    empty: Vec::new(),
                    path: t.text.path.clone(),
                    line: t.text.file_line(1),
                    detail: "a field gave another number of values than when the issue was read"
                        .into(),
                });
            }
            out.extend(values.into_iter().map(str::to_owned));
        }
        Ok(out)
    }

    /// Values for nobody in particular (an archive page, a test copy to
    /// an address not on the list): each field's `default`, or empty.
    pub fn blank_values(&self) -> Values {
        let mut out = Vec::with_capacity(self.marks);
        for t in &self.texts {
            let rendered = self.blank(t);
            let (_, values) = split(&rendered);
            out.extend((0..t.count).map(|i| values.get(i).map_or("", |v| v).to_owned()));
        }
        out
    }

    /// A text rendered for nobody (lenient: a field without a default
    /// is empty), values still between their markers.
    fn blank(&self, t: &Compiled) -> String {
        self.lenient
            .get_template(&t.name)
            .and_then(|tmpl| tmpl.render(minijinja::context! {}))
            .unwrap_or_default()
    }
}

fn at(text: &FieldText, line: usize, message: String) -> Diagnostic {
    Diagnostic::new(
        &text.path,
        Some(text.file_line(line)),
        format!("`{}`: {message}", text.key),
    )
}

/// The newsletter and issue with each text that holds fields replaced.
fn replaced(
    newsletter: &Newsletter,
    issue: &Issue,
    texts: &[(FieldText, String)],
) -> Result<(Newsletter, Issue), Diagnostic> {
    let (mut newsletter, mut issue) = (newsletter.clone(), issue.clone());
    for (field, text) in texts {
        let bad = |why: String| at(field, 1, format!("with its fields filled in, {why}"));
        let line = || Line::parse(text).map_err(&bad);
        let markdown = || {
            Markdown::parse(text)
                .map_err(|e| bad(e.first().map(|e| e.message.clone()).unwrap_or_default()))
        };
        match field.spot {
            Spot::Subject => issue.subject = Some(line()?),
            Spot::Preheader => issue.preheader = Some(line()?),
            Spot::Intro => issue.intro = Some(markdown()?),
            Spot::Headline(i) => {
                if let Some(s) = issue.stories.get_mut(i) {
                    s.headline = line()?;
                }
            }
            Spot::Body(i) => {
                if let Some(s) = issue.stories.get_mut(i) {
                    s.body = markdown()?;
                }
            }
            Spot::About => newsletter.about = Some(markdown()?),
        }
    }
    issue.fields.clear();
    newsletter.about_fields = None;
    Ok((newsletter, issue))
}

/// The issue as nobody in particular reads it (its page in the web
/// archive): each field's `default`, or nothing; in Markdown a value is
/// escaped, so it shows as typed there too.
pub fn for_nobody(
    newsletter: &Newsletter,
    issue: &Issue,
) -> Result<(Newsletter, Issue), Diagnostics> {
    let Some((personal, _, _)) = Personal::new(newsletter, issue)? else {
        return Ok((newsletter.clone(), issue.clone()));
    };
    let mut texts = Vec::new();
    for t in &personal.texts {
        let rendered = personal.blank(t);
        let markdown = matches!(t.text.spot, Spot::Intro | Spot::Body(_) | Spot::About);
        let (between, values) = split(&rendered);
        let mut text = String::new();
        for (i, piece) in between.iter().enumerate() {
            text.push_str(piece);
            if let Some(v) = values.get(i) {
                if markdown {
                    escape_markdown(v, &mut text);
                } else {
                    text.push_str(v);
                }
            }
        }
        if !markdown && text.trim().is_empty() {
            text = "…".into();
        }
        texts.push((t.text.clone(), text));
    }
    let (newsletter, mut public) =
        replaced(newsletter, issue, &texts).map_err(|d| Diagnostics(vec![d]))?;
    // A preheader written for each reader shows its default to nobody in
    // particular ("Hi Reader"): the public pages take the issue's own
    // fallback (its headlines, or a letter's opening words) instead.
    if issue.fields.iter().any(|f| f.spot == Spot::Preheader) {
        public.preheader = None;
    }
    Ok((newsletter, public))
}

/// A value in Markdown that reads as typed: every ASCII punctuation
/// character escaped with a backslash (CommonMark allows it on each).
fn escape_markdown(value: &str, out: &mut String) {
    for c in value.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
}
