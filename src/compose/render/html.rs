//! The HTML part: a table layout mail clients agree on, styles inlined by
//! css-inline, dark mode kept as an `@media` rule, every value escaped.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{LINK, Place, RenderError, dateline};
use crate::compose::look::{mail_head, paint_mail};
use crate::input::config::Newsletter;
use crate::input::issue::{Format, Issue, Layout};
use crate::input::words::Words;

/// The Content-ID the masthead's logo is carried under (`cid:`), in the
/// `id@domain` form RFC 2392 asks of one (`.invalid`: no real domain).
pub const LOGO_CID: &str = "logo@bulletin.invalid";

/// Inlined into `style` attributes; only the `@media` rule stays a
/// stylesheet. Painted from the one palette (`look`).
const CSS: &str = r#"
h1 { margin: 0 0 4px 0; font-size: 28px; line-height: 1.2; color: $navy; }
.dateline { margin: 0; font-size: 14px; color: $muted; }
h2 { margin: 0 0 12px 0; padding-bottom: 6px; font-size: 13px; letter-spacing: 0.08em; text-transform: uppercase; color: $accent; border-bottom: 1px solid $rule; }
h3 { margin: 24px 0 8px 0; font-size: 18px; line-height: 1.3; color: $ink; }
p { margin: 0 0 12px 0; }
a { color: $link; }
ul, ol { margin: 0 0 12px 0; padding-left: 22px; }
li { margin: 0 0 6px 0; }
img { max-width: 100%; height: auto; }
blockquote { margin: 0 0 12px 0; padding-left: 12px; border-left: 3px solid $rule; color: $muted; }
pre { white-space: pre-wrap; font-size: 14px; }
.more { font-size: 14px; }
.footer { font-size: 13px; line-height: 1.5; color: $muted; background-color: $footer; }
.address { margin: 0; }
.unsubscribe { margin: 12px 0 0 0; }
.preheader { display: none; mso-hide: all; max-height: 0; max-width: 0; overflow: hidden; }
.online { padding-top: 8px; padding-bottom: 0; font-size: 13px; text-align: right; }
@media (prefers-color-scheme: dark) {
  body, .outer { background-color: $d_page !important; }
  .container, .footer { background-color: $d_paper !important; }
  .cell, h3, .footer { color: $d_ink !important; }
  .dateline, blockquote { color: $d_muted !important; }
  .masthead { border-bottom-color: $d_navy !important; }
  h1 { color: $d_navy !important; }
  h2 { color: $d_accent !important; border-bottom-color: $d_rule !important; }
  a { color: $d_link !important; }
}
"#;

static PAINTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| paint_mail(CSS));

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
    let lang = issue.lang_in(newsletter);
    let words = newsletter.words(lang);
    let Place::Mail {
        unsubscribe,
        online,
    } = place;
    html! {
        (DOCTYPE)
        html lang=(lang) {
            (mail_head(&subject, &PAINTED))
            body {
                div class="preheader" { (issue.preheader()) }
                table role="presentation" class="outer" width="100%" cellpadding="0" cellspacing="0" border="0" {
                    tr { td align="center" {
                        table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" {
                            @if let Some(online) = online {
                                tr { td class="cell online" {
                                    a href=(online) { (words.view_in_browser) }
                                } }
                            }
                            tr { td class="cell masthead" {
                                @if let Some(logo) = &newsletter.logo {
                                    @let (w, h) = crate::input::markdown::fit(logo.image.width, logo.image.height);
                                    img src={ "cid:" (LOGO_CID) } alt=(newsletter.name) width=(w) height=(h)
                                        style="display:block;max-width:100%;height:auto;border:0;margin:0 0 8px 0";
                                }
                                h1 { (newsletter.name) }
                                @if let Some(dateline) = dateline(issue, &words) {
                                    p class="dateline" { (dateline) }
                                }
                            } }
                            @if let Some(intro) = &issue.intro {
                                tr { td class="cell intro" { (PreEscaped(intro.to_html_with(&issue.media))) } }
                            }
                            @match issue.layout {
                                Layout::Digest => {
                                    tr { td class="cell" {
                                        h2 { (words.headlines) }
                                        ul class="headlines" {
                                            @for (i, story) in issue.stories.iter().enumerate() {
                                                li { a href={ "#story-" (i + 1) } { (story.headline) } }
                                            }
                                        }
                                    } }
                                    tr { td class="cell" {
                                        h2 { (words.details) }
                                        (stories(issue, &words, "h3"))
                                    } }
                                }
                                Layout::Letter => {
                                    tr { td class="cell letter" { (stories(issue, &words, "h3")) } }
                                }
                            }
                            (footer(newsletter, &words, unsubscribe))
                        }
                    } }
                }
            }
        }
    }
}

/// The stories, each under its headline (a heading of level `level`),
/// with its "Read more" link; a letter's one story is just its text.
fn stories(issue: &Issue, words: &Words, level: &str) -> Markup {
    let bare = issue.layout == Layout::Letter && issue.stories.len() == 1;
    html! {
        @for (i, story) in issue.stories.iter().enumerate() {
            @if !bare {
                @if level == "h2" {
                    h2 id={ "story-" (i + 1) } { (story.headline) }
                } @else {
                    h3 id={ "story-" (i + 1) } { (story.headline) }
                }
            }
            (PreEscaped(story.body.to_html_with(&issue.media)))
            @if let Some(link) = &story.link {
                p class="more" { a href=(link) { (words.read_more) } }
            }
        }
    }
}

/// The issue's own content as an HTML fragment: the intro and the
/// stories with their links, and nothing else (no document, stylesheet,
/// preheader, Headlines list or footer). What the archive's page and each
/// feed entry show: a reader that drops styles shows each story once.
pub fn fragment(issue: &Issue, words: &Words) -> Markup {
    html! {
        @if let Some(intro) = &issue.intro {
            (PreEscaped(intro.to_html_with(&issue.media)))
        }
        (stories(issue, words, "h2"))
    }
}

/// What an archive page (and its feed entry) shows of an issue: the
/// HTML fragment, or for a text-only issue its text as it was mailed
/// (`page_text`), kept line for line, its web addresses made links.
pub fn page_fragment(newsletter: &Newsletter, issue: &Issue) -> Markup {
    match issue.format_in(newsletter) {
        Format::Html => fragment(issue, &newsletter.words(issue.lang_in(newsletter))),
        Format::Text => {
            let text = super::page_text(newsletter, issue);
            html! { pre class="text-issue" { (linked(&text)) } }
        }
    }
}

/// Plain text, escaped, with each `http(s)://` address a link to itself
/// (punctuation that ends a sentence left out of it).
fn linked(text: &str) -> Markup {
    // (whether a link, the text)
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut rest = text;
    while let Some(at) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        pieces.push((false, &rest[..at]));
        let tail = &rest[at..];
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let url = url_in(&tail[..end]);
        pieces.push((true, url));
        rest = &tail[url.len()..];
    }
    pieces.push((false, rest));
    html! {
        @for (link, piece) in pieces {
            @if link { a href=(piece) { (piece) } } @else { (piece) }
        }
    }
}

/// The address in `word` (text from `http` to the next space): without
/// the punctuation of the sentence around it, but with a closing `)`
/// that closes a `(` of its own (`…/wiki/Rust_(language)`).
fn url_in(word: &str) -> &str {
    let mut url = word;
    // `(` less `)` in what is left, counted once.
    let mut open = word.matches('(').count() as isize - word.matches(')').count() as isize;
    while let Some(last) = url.chars().last() {
        let sentence = match last {
            '.' | ',' | ';' | ':' | ']' | '!' | '?' | '"' | '\'' => true,
            ')' if open < 0 => {
                open += 1;
                true
            }
            _ => false,
        };
        if !sentence {
            break;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
    url
}

fn footer(newsletter: &Newsletter, words: &Words, unsubscribe: bool) -> Markup {
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
                    "\n" a href=(LINK) { (words.unsubscribe) } "\n"
                    (words.unsubscribe_rest(newsletter.name.as_str()))
                }
            }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_own_parenthesis_stays_and_the_sentences_goes() {
        assert_eq!(
            url_in("https://en.wikipedia.org/wiki/Rust_(language))."),
            "https://en.wikipedia.org/wiki/Rust_(language)"
        );
        assert_eq!(url_in("https://example.org/a)."), "https://example.org/a");
        let many = format!("https://example.org/a{}", ")".repeat(100_000));
        assert_eq!(url_in(&many), "https://example.org/a");
        assert_eq!(
            url_in("https://example.org/?q=1!\""),
            "https://example.org/?q=1"
        );
        let html = linked("(see https://example.org/x_(y)) now").into_string();
        assert!(
            html.contains(
                "<a href=\"https://example.org/x_(y)\">https://example.org/x_(y)</a>) now"
            ),
            "{html}"
        );
    }
}
