//! Issue to email parts: the HTML (maud, inlined CSS) and the plain text,
//! each cut around the reader's unsubscribe line. Pure: the same newsletter
//! and issue give the same parts, byte for byte.

mod html;
mod text;

use crate::input::config::Newsletter;
use crate::input::issue::Issue;

pub use html::{WebHead, render_html, web_head};
pub use text::{WIDTH, render_text};

/// Stands in the rendered parts where each reader's unsubscribe link goes.
pub const LINK: &str = "BULLETIN-UNSUBSCRIBE-LINK";

/// A rendered part cut around the one line that differs per reader (the
/// unsubscribe link), so the rest is encoded once per issue. Without an
/// unsubscribe link, `line` and `tail` are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Everything before the reader's line; ends with a line break.
    pub head: String,
    /// The reader's line, with `LINK` in it; ends with a line break.
    pub line: String,
    pub tail: String,
}

impl Part {
    fn split(s: String) -> Self {
        let Some(at) = s.find(LINK) else {
            return Self {
                head: s,
                line: String::new(),
                tail: String::new(),
            };
        };
        let start = s[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = s[at..].find('\n').map_or(s.len(), |i| at + i + 1);
        Self {
            head: s[..start].to_owned(),
            line: s[start..end].to_owned(),
            tail: s[end..].to_owned(),
        }
    }

    /// The whole part with `LINK` replaced by `link` (already escaped as
    /// the part needs).
    pub fn with(&self, link: &str) -> String {
        let mut out =
            String::with_capacity(self.head.len() + self.line.len() + self.tail.len() + link.len());
        out.push_str(&self.head);
        out.push_str(&self.line.replace(LINK, link));
        out.push_str(&self.tail);
        out
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.line.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything of a message that is the same for every reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: Part,
    pub text: Part,
}

impl Rendered {
    /// The HTML for a reader whose unsubscribe link is `url`.
    pub fn html_for(&self, url: &str) -> String {
        self.html.with(&html_attr(url))
    }

    /// The plain text for a reader whose unsubscribe link is `url`.
    pub fn text_for(&self, url: &str) -> String {
        self.text.with(url)
    }
}

/// `url` as an HTML attribute value (the URL itself was checked at input).
pub fn html_attr(url: &str) -> String {
    url.replace('&', "&amp;").replace('"', "&quot;")
}

#[derive(Debug, thiserror::Error)]
#[error("could not inline the email's stylesheet: {0}")]
pub struct RenderError(#[from] css_inline::InlineError);

/// Where the issue is read, which decides its two reader-facing extras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// In a reader's mail: the footer carries the reader's one-click link
    /// when `unsubscribe` (`LINK` until a reader's is put in), and the top
    /// a "View in browser" link to the issue's page when it has one.
    Mail {
        unsubscribe: bool,
        online: Option<&'a str>,
    },
    /// On the issue's page in the web archive: nobody's link in it; the
    /// footer points to the sign-up page, and the head names the feed and
    /// what link previews show (Open Graph).
    Web {
        page: &'a str,
        feed: &'a str,
        signup: Option<&'a str>,
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

/// The same, for a place (a mail with a "View in browser" link, or the
/// archive's page: then only its HTML is of use).
pub fn render_for(
    newsletter: &Newsletter,
    issue: &Issue,
    place: Place<'_>,
) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        subject: issue.subject(newsletter),
        html: Part::split(render_html(newsletter, issue, place)?),
        text: Part::split(render_text(newsletter, issue, place)),
    })
}

/// The dateline under the masthead: "August 1, 2022", with "No. 12" when numbered.
fn dateline(issue: &Issue) -> String {
    match issue.number {
        Some(n) => format!("{} · No. {n}", issue.date),
        None => issue.date.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_splits_around_the_line_with_the_link() {
        let p = Part::split(format!("a\nb {LINK} c\nd\n"));
        assert_eq!(p.head, "a\n");
        assert_eq!(p.line, format!("b {LINK} c\n"));
        assert_eq!(p.tail, "d\n");
        assert_eq!(p.with("URL"), "a\nb URL c\nd\n");
        let none = Part::split("x\n".into());
        assert_eq!(none.with("URL"), "x\n");
    }
}
