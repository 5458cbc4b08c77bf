//! Issue to email parts: the HTML (maud, inlined CSS) and the plain text.
//! Pure: the same newsletter and issue give the same parts, byte for byte.

mod html;
mod text;

use crate::config::Newsletter;
use crate::content::Issue;

pub use html::render_html;
pub use text::{WIDTH, render_text};

/// Everything of a message that is the same for every reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("could not inline the email's stylesheet: {0}")]
pub struct RenderError(#[from] css_inline::InlineError);

pub fn render(newsletter: &Newsletter, issue: &Issue) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        subject: issue.subject(newsletter),
        html: render_html(newsletter, issue)?,
        text: render_text(newsletter, issue),
    })
}

/// The dateline under the masthead: "August 1, 2022", with "No. 12" when numbered.
fn dateline(issue: &Issue) -> String {
    match issue.number {
        Some(n) => format!("{} · No. {n}", issue.date),
        None => issue.date.to_string(),
    }
}
