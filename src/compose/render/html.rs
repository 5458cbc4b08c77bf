//! The HTML part: a table layout mail clients agree on, styles inlined by
//! css-inline, dark mode kept as an `@media` rule, every value escaped.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{LINK, Place, RenderError, dateline};
use crate::input::config::Newsletter;
use crate::input::issue::Issue;

/// Inlined into `style` attributes; only the `@media` rule stays a stylesheet.
const CSS: &str = r#"
body { margin: 0; padding: 0; background-color: #f2f2ef; }
.outer { background-color: #f2f2ef; }
.container { width: 100%; max-width: 600px; background-color: #ffffff; }
.cell { padding: 20px 32px; font-family: Georgia, 'Times New Roman', serif; font-size: 16px; line-height: 1.55; color: #1d1d1b; }
.masthead { padding-top: 32px; border-bottom: 3px solid #1d3557; }
h1 { margin: 0 0 4px 0; font-size: 28px; line-height: 1.2; color: #1d3557; }
.dateline { margin: 0; font-size: 14px; color: #5b5b57; }
h2 { margin: 0 0 12px 0; padding-bottom: 6px; font-size: 13px; letter-spacing: 0.08em; text-transform: uppercase; color: #a4161a; border-bottom: 1px solid #dcdcd6; }
h3 { margin: 24px 0 8px 0; font-size: 18px; line-height: 1.3; color: #1d1d1b; }
p { margin: 0 0 12px 0; }
a { color: #1d4e89; }
ul, ol { margin: 0 0 12px 0; padding-left: 22px; }
li { margin: 0 0 6px 0; }
img { max-width: 100%; height: auto; }
blockquote { margin: 0 0 12px 0; padding-left: 12px; border-left: 3px solid #dcdcd6; color: #5b5b57; }
pre { white-space: pre-wrap; font-size: 14px; }
.more { font-size: 14px; }
.footer { font-size: 13px; line-height: 1.5; color: #5b5b57; background-color: #f8f8f5; }
.address { margin: 0; }
.unsubscribe { margin: 12px 0 0 0; }
.preheader { display: none; mso-hide: all; max-height: 0; max-width: 0; overflow: hidden; }
.online { padding-top: 8px; padding-bottom: 0; font-size: 13px; text-align: right; }
@media (prefers-color-scheme: dark) {
  body, .outer { background-color: #121212 !important; }
  .container, .footer { background-color: #1e1e1e !important; }
  .cell, h3, .dateline, .footer, blockquote { color: #e6e6e3 !important; }
  h1 { color: #9cc3f0 !important; }
  a { color: #8ab4f8 !important; }
}
"#;

fn inliner() -> css_inline::CSSInliner<'static> {
    css_inline::CSSInliner::options()
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build()
}

pub fn render_html(
    newsletter: &Newsletter,
    issue: &Issue,
    place: Place<'_>,
) -> Result<String, RenderError> {
    let doc = document(newsletter, issue, place).into_string();
    Ok(inliner().inline(&doc)?)
}

fn document(newsletter: &Newsletter, issue: &Issue, place: Place<'_>) -> Markup {
    let subject = issue.subject(newsletter);
    let (unsubscribe, online) = match place {
        Place::Mail {
            unsubscribe,
            online,
        } => (unsubscribe, online),
        Place::Web { .. } => (false, None),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="supported-color-schemes" content="light dark";
                title { (subject) }
                @if let Place::Web { page, feed, .. } = place {
                    (web_head(&WebHead {
                        kind: "article",
                        title: &subject,
                        description: &issue.preheader(),
                        url: page,
                        feed,
                        feed_title: newsletter.name.as_str(),
                        site_name: Some(newsletter.name.as_str()),
                    }))
                }
                style { (PreEscaped(CSS)) }
            }
            body {
                div class="preheader" { (issue.preheader()) }
                table role="presentation" class="outer" width="100%" cellpadding="0" cellspacing="0" border="0" {
                    tr { td align="center" {
                        table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" {
                            @if let Some(online) = online {
                                tr { td class="cell online" {
                                    a href=(online) { "View in browser" }
                                } }
                            }
                            tr { td class="cell masthead" {
                                h1 { (newsletter.name) }
                                p class="dateline" { (dateline(issue)) }
                            } }
                            @if let Some(intro) = &issue.intro {
                                tr { td class="cell intro" { (PreEscaped(intro.to_html())) } }
                            }
                            tr { td class="cell" {
                                h2 { "Headlines" }
                                ul class="headlines" {
                                    @for (i, story) in issue.stories.iter().enumerate() {
                                        li { a href={ "#story-" (i + 1) } { (story.headline) } }
                                    }
                                }
                            } }
                            tr { td class="cell" {
                                h2 { "Details" }
                                @for (i, story) in issue.stories.iter().enumerate() {
                                    h3 id={ "story-" (i + 1) } { (story.headline) }
                                    (PreEscaped(story.body.to_html()))
                                    @if let Some(link) = &story.link {
                                        p class="more" { a href=(link) { "Read more" } }
                                    }
                                }
                            } }
                            (footer(newsletter, unsubscribe, place))
                        }
                    } }
                }
            }
        }
    }
}

/// What a page on the web says of itself in its head.
pub struct WebHead<'a> {
    /// Open Graph's type: `article` for an issue, `website` for the index.
    pub kind: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    /// The page's own (canonical) URL.
    pub url: &'a str,
    pub feed: &'a str,
    pub feed_title: &'a str,
    pub site_name: Option<&'a str>,
}

/// The head's links and Open Graph tags of an archive page: its canonical
/// URL, the feed a browser or reader can discover, and what a link
/// preview shows.
pub fn web_head(h: &WebHead<'_>) -> Markup {
    html! {
        link rel="canonical" href=(h.url);
        link rel="alternate" type="application/atom+xml" title=(h.feed_title) href=(h.feed);
        meta property="og:type" content=(h.kind);
        meta property="og:title" content=(h.title);
        meta property="og:description" content=(h.description);
        meta property="og:url" content=(h.url);
        @if let Some(name) = h.site_name {
            meta property="og:site_name" content=(name);
        }
    }
}

fn footer(newsletter: &Newsletter, unsubscribe: bool, place: Place<'_>) -> Markup {
    html! {
        tr { td class="cell footer" {
            @if let Some(about) = &newsletter.about {
                (PreEscaped(about.to_html()))
            }
            @if let Some(address) = &newsletter.postal_address {
                p class="address" {
                    @for (i, line) in address.iter().enumerate() {
                        @if i > 0 { br; }
                        (line)
                    }
                }
            }
            @if unsubscribe {
                // The link stands on a line of its own: the reader's part.
                p class="unsubscribe" {
                    "\n" a href=(LINK) { "Unsubscribe" } "\n"
                    " from " (newsletter.name) " with one click."
                }
            }
            @if let Place::Web { signup: Some(signup), .. } = place {
                p class="unsubscribe" {
                    a href=(signup) { "Subscribe" } " to " (newsletter.name)
                    ", or change your subscription, with the link in any issue you got."
                }
            }
        } }
    }
}
