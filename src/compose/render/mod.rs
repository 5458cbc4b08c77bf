//! Issue to email parts: the HTML (maud, inlined CSS) and the plain text,
//! each cut around the reader's unsubscribe line. Pure: the same newsletter
//! and issue give the same parts, byte for byte.

mod html;
mod text;

use crate::input::config::Newsletter;
use crate::input::issue::{Format, Issue, Layout};
use crate::input::words::Words;

pub use html::{LOGO_CID, fragment, page_fragment, render_html};
pub(crate) use text::wrap;
pub use text::{WIDTH, page_text, render_text};

/// Stands in the rendered parts where each reader's unsubscribe link goes.
pub const LINK: &str = "BULLETIN-UNSUBSCRIBE-LINK";

/// Marks where a wrapped paragraph of the plain text holds a field: it is
/// wrapped for each reader once their values are in (`text::wrap`). Its
/// parts are `WRAP_OPEN first WRAP_SEP rest WRAP_SEP text WRAP_CLOSE`.
/// Taken from the marks an issue may not hold (`input::fields::MARKS`),
/// above any field's.
pub(crate) const WRAP_OPEN: char = '\u{FFFF0}';
pub(crate) const WRAP_SEP: char = '\u{FFFF1}';
pub(crate) const WRAP_CLOSE: char = '\u{FFFF2}';

/// How many fields an issue may hold: their marks stay below the
/// wrapping marks.
pub const MAX_FIELDS: usize = 0xFFF0;

/// The mark where field `k`'s value goes.
pub fn mark(k: usize) -> char {
    char::from_u32(0xF0000 + u32::try_from(k.min(MAX_FIELDS - 1)).unwrap_or(0))
        .unwrap_or('\u{F0000}')
}

/// The field whose mark `c` is.
pub(crate) fn field_of(c: char) -> Option<usize> {
    let n = u32::from(c).checked_sub(0xF0000)? as usize;
    (n < MAX_FIELDS).then_some(n)
}

/// `s` with each field's mark shown as `{…}`, for what a person reads
/// (the subject in a summary line).
pub fn shown(s: &str) -> String {
    if !s.chars().any(|c| field_of(c).is_some()) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| match field_of(c) {
            Some(_) => "{…}".to_owned(),
            None => c.to_string(),
        })
        .collect()
}

/// One piece of a rendered part: text every reader gets, or what differs
/// per reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// The reader's unsubscribe link.
    Link,
    /// The value of field `k` (its mark in the rendered text).
    Field(usize),
    /// A paragraph of the plain text holding fields, wrapped per reader.
    Wrap {
        first: String,
        rest: String,
        text: Vec<Piece>,
    },
}

/// A rendered part cut into the text every reader gets and the pieces
/// that differ per reader (the unsubscribe link, fields), so the rest is
/// encoded once per issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// As rendered, with `LINK` and fields' marks in it.
    pub source: String,
    pub pieces: Vec<Piece>,
}

impl Part {
    pub fn split(source: String) -> Self {
        let pieces = pieces(&source);
        Self { source, pieces }
    }

    /// The whole part with `LINK` replaced by `link` (already escaped as
    /// the part needs) and fields left empty.
    pub fn with(&self, link: &str) -> String {
        self.fill(link, &[], |v, out| out.push_str(v))
    }

    /// The whole part for one reader: their link (escaped as the part
    /// needs), and field `k` as `values[k]` put in by `escape`.
    pub fn fill(&self, link: &str, values: &[String], escape: fn(&str, &mut String)) -> String {
        let mut out = String::with_capacity(self.source.len() + link.len());
        for piece in &self.pieces {
            fill_piece(piece, link, values, escape, &mut out);
        }
        out
    }

    /// Whether anything in it differs per reader but the link.
    pub fn has_fields(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Field(_) | Piece::Wrap { .. }))
    }

    pub fn len(&self) -> usize {
        self.source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }
}

/// Puts one piece in for one reader.
pub fn fill_piece(
    piece: &Piece,
    link: &str,
    values: &[String],
    escape: fn(&str, &mut String),
    out: &mut String,
) {
    match piece {
        Piece::Text(t) => out.push_str(t),
        Piece::Link => out.push_str(link),
        Piece::Field(k) => escape(values.get(*k).map_or("", String::as_str), out),
        Piece::Wrap { first, rest, text } => {
            let mut para = String::new();
            for p in text {
                fill_piece(p, link, values, escape, &mut para);
            }
            out.push_str(&text::wrap(&para, first, rest));
        }
    }
}

/// A value as the text part and the subject take it: as typed, but on one
/// line (a control character becomes a space).
pub fn as_typed(value: &str, out: &mut String) {
    out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c }));
}

/// A value as the HTML part takes it: escaped, so it is never read as HTML.
pub fn as_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// `s` cut at `LINK`, fields' marks and wrapped paragraphs.
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some((i, c)) = rest
        .char_indices()
        .find(|&(i, c)| c == WRAP_OPEN || field_of(c).is_some() || rest[i..].starts_with(LINK))
    {
        text.push_str(&rest[..i]);
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        if c == WRAP_OPEN {
            let body = &rest[i + c.len_utf8()..];
            let end = body.find(WRAP_CLOSE).unwrap_or(body.len());
            let mut parts = body[..end].splitn(3, WRAP_SEP);
            let (first, indent, para) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            out.push(Piece::Wrap {
                first: first.to_owned(),
                rest: indent.to_owned(),
                text: pieces(para),
            });
            rest = body.get(end + WRAP_CLOSE.len_utf8()..).unwrap_or("");
        } else if let Some(k) = field_of(c) {
            out.push(Piece::Field(k));
            rest = &rest[i + c.len_utf8()..];
        } else {
            out.push(Piece::Link);
            rest = &rest[i + LINK.len()..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Everything of a message that is the same for every reader, with a
/// mark where each reader's own goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject, with fields' marks.
    pub subject: String,
    /// None for a text-only issue (`format = "text"`).
    pub html: Option<Part>,
    pub text: Part,
}

impl Rendered {
    /// The HTML for a reader whose unsubscribe link is `url` (none for a
    /// text-only issue).
    pub fn html_for(&self, url: &str) -> Option<String> {
        self.html.as_ref().map(|h| h.with(&html_attr(url)))
    }

    /// The plain text for a reader whose unsubscribe link is `url`.
    pub fn text_for(&self, url: &str) -> String {
        self.text.with(url)
    }

    /// The subject for a reader with field values `values`.
    pub fn subject_for(&self, values: &[String]) -> String {
        if values.is_empty() {
            return self.subject.clone();
        }
        Part::split(self.subject.clone()).fill("", values, as_typed)
    }
}

/// `url` as an HTML attribute value (the URL itself was checked at input).
pub fn html_attr(url: &str) -> String {
    url.replace('&', "&amp;").replace('"', "&quot;")
}

#[derive(Debug, thiserror::Error)]
#[error("could not inline the email's stylesheet: {0}")]
pub struct RenderError(#[from] css_inline::InlineError);

/// Where the issue is read: in a reader's mail, whose footer carries the
/// reader's one-click link when `unsubscribe` (`LINK` until a reader's is
/// put in), and whose top a "View in browser" link to the issue's page
/// when it has one. (The archive's pages show `fragment` in the page
/// shell instead: `compose::site`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    Mail {
        unsubscribe: bool,
        online: Option<&'a str>,
    },
}

/// Renders the issue; with `unsubscribe`, the footer carries each reader's
/// one-click link (`LINK` until a reader's is put in).
pub fn render(
    newsletter: &Newsletter,
    issue: &Issue,
    unsubscribe: bool,
) -> Result<Rendered, RenderError> {
    render_for(
        newsletter,
        issue,
        Place::Mail {
            unsubscribe,
            online: None,
        },
    )
}

/// The same, for a place (a mail with a "View in browser" link).
pub fn render_for(
    newsletter: &Newsletter,
    issue: &Issue,
    place: Place<'_>,
) -> Result<Rendered, RenderError> {
    let html = match issue.format_in(newsletter) {
        Format::Html => Some(Part::split(render_html(newsletter, issue, place)?)),
        Format::Text => None,
    };
    Ok(Rendered {
        subject: issue.subject(newsletter),
        html,
        text: Part::split(render_text(newsletter, issue, place)),
    })
}

/// The dateline under a digest's masthead: "August 1, 2022", with "No.
/// 12" when numbered, in the issue's language. A letter has none.
fn dateline(issue: &Issue, words: &Words) -> Option<String> {
    if issue.layout == Layout::Letter {
        return None;
    }
    let date = words.date(issue.date?);
    Some(match issue.number {
        Some(n) => format!("{date} · {}", words.numbered(n)),
        None => date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_splits_at_the_link_and_the_fields() {
        let p = Part::split(format!("a\nb {LINK} c {} d{}\n", mark(0), mark(1)));
        assert_eq!(
            p.pieces,
            vec![
                Piece::Text("a\nb ".into()),
                Piece::Link,
                Piece::Text(" c ".into()),
                Piece::Field(0),
                Piece::Text(" d".into()),
                Piece::Field(1),
                Piece::Text("\n".into()),
            ]
        );
        assert_eq!(p.with("URL"), "a\nb URL c  d\n");
        let values = ["<Ann>".to_owned(), "&".to_owned()];
        assert_eq!(
            p.fill("U", &values, as_html),
            "a\nb U c &lt;Ann&gt; d&amp;\n"
        );
        assert_eq!(p.fill("U", &values, as_typed), "a\nb U c <Ann> d&\n");
        let none = Part::split("x\n".into());
        assert_eq!(none.with("URL"), "x\n");
        assert!(!none.has_fields());
    }

    #[test]
    fn a_paragraph_with_a_field_is_wrapped_once_its_value_is_in() {
        let para = format!("Hi {}, {}", mark(0), "word ".repeat(20).trim_end());
        let wrapped = format!("x\n{WRAP_OPEN}> {WRAP_SEP}> {WRAP_SEP}{para}{WRAP_CLOSE}\ny\n");
        let p = Part::split(wrapped);
        assert!(p.has_fields());
        let long = "Bartholomew-Featherstonehaugh".to_owned();
        let filled = p.fill("", std::slice::from_ref(&long), as_typed);
        let lines: Vec<&str> = filled.lines().collect();
        assert_eq!(lines[0], "x");
        assert!(lines[1].starts_with(&format!("> Hi {long}, word")));
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{filled}");
        assert_eq!(lines.last(), Some(&"y"));
        assert_eq!(
            filled.split_whitespace().filter(|w| *w == "word").count(),
            20
        );
    }
}
