//! The Markdown of story bodies, intros and the footer: checked once where
//! it is read, then rendered to HTML (raw HTML escaped) and to plain-text blocks.

mod images;
mod text;

use pulldown_cmark::{Event, LinkType, Parser, Tag, TagEnd};

pub use images::{COLUMN, Media, Placed, fit};
use images::{Images, check_image, is_decorative, is_local};
use text::TextWalker;
pub use text::{Block, Footnotes};

/// Markdown whose links were all checked. Only `parse` builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markdown(String);

/// A problem at a byte offset of the Markdown source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownError {
    pub offset: usize,
    pub message: String,
}

/// Plain CommonMark: no tables, no smart punctuation, so text stays as written.
fn parser(src: &str) -> Parser<'_> {
    Parser::new_ext(src, pulldown_cmark::Options::empty())
}

impl Markdown {
    /// Checks every link and image: only absolute http(s) and mailto URLs
    /// work in an email, and anything else (javascript:, relative paths) is
    /// refused rather than silently sent. An image needs its alt text
    /// (unless its title says `decorative`) and is `https`, or a path to a
    /// local file (`local_images`), which the loader resolves.
    pub fn parse(src: &str) -> Result<Self, Vec<MarkdownError>> {
        let mut errors = Vec::new();
        // An image open: its start offset, and whether it is decorative
        // or has alt text yet.
        let mut image: Option<(usize, bool)> = None;
        for (event, range) in parser(src).into_offset_iter() {
            let (dest, what) = match &event {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    ..
                }) => {
                    if *link_type == LinkType::Email {
                        continue;
                    }
                    (dest_url, "link")
                }
                Event::Start(Tag::Image {
                    dest_url, title, ..
                }) => {
                    image = Some((range.start, is_decorative(title)));
                    (dest_url, "image")
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some((_, alt)) = &mut image {
                        *alt |= !t.trim().is_empty();
                    }
                    continue;
                }
                Event::End(TagEnd::Image) => {
                    if let Some((offset, false)) = image.take() {
                        errors.push(MarkdownError {
                            offset,
                            message: "an image needs alt text, what it shows for readers who \
                                      do not see it: `![A ferry at the pier](…)`; a purely \
                                      decorative one says so: `![](… \"decorative\")`"
                                .into(),
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            if crate::input::fields::has_fields(dest) {
                errors.push(MarkdownError {
                    offset: range.start,
                    message: format!("a field cannot be part of a {what}'s target"),
                });
                continue;
            }
            let checked = if what == "image" {
                check_image(dest)
            } else {
                check_url(dest)
            };
            if let Err(why) = checked {
                errors.push(MarkdownError {
                    offset: range.start,
                    message: format!("{what} target {:?} {why}", dest.as_ref()),
                });
            }
        }
        if errors.is_empty() {
            Ok(Self(src.to_owned()))
        } else {
            Err(errors)
        }
    }

    /// The images given as paths to local files, as written, each with
    /// its byte offset in the source.
    pub fn local_images(&self) -> Vec<(usize, String)> {
        parser(&self.0)
            .into_offset_iter()
            .filter_map(|(event, range)| match event {
                Event::Start(Tag::Image { dest_url, .. }) if is_local(&dest_url) => {
                    Some((range.start, dest_url.to_string()))
                }
                _ => None,
            })
            .collect()
    }

    /// Every image's target, as written.
    pub fn images(&self) -> Vec<String> {
        parser(&self.0)
            .filter_map(|event| match event {
                Event::Start(Tag::Image { dest_url, .. }) => Some(dest_url.to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// HTML for the email body. Raw HTML in the source is shown as text.
    pub fn to_html(&self) -> String {
        self.to_html_with(&Media::default())
    }

    /// The same, local images at their published address (`media`), each
    /// image with its size where known and never wider than the column.
    pub fn to_html_with(&self, media: &Media) -> String {
        let mut out = String::with_capacity(self.0.len() * 5 / 4);
        let events = parser(&self.0).map(escape_raw_html);
        pulldown_cmark::html::push_html(&mut out, Images::new(events, media));
        out
    }

    /// The words alone, on one line: no link numbers, no emphasis marks,
    /// code as typed. What an inbox preview line shows.
    pub fn plain_words(&self) -> String {
        let mut out = String::new();
        for event in parser(&self.0) {
            match event {
                Event::Text(s) | Event::Code(s) => out.push_str(&s),
                Event::SoftBreak | Event::HardBreak => out.push(' '),
                // A block's end parts words; an inline element's does not.
                Event::End(
                    TagEnd::Link | TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough,
                ) => {}
                Event::End(_) => out.push(' '),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Plain-text blocks; link targets are numbered into `links`.
    pub fn to_text(&self, links: &mut Footnotes) -> Vec<Block> {
        self.to_text_in(links, "Image")
    }

    /// The same, an image shown as `[{image}: its alt text]`.
    pub fn to_text_in(&self, links: &mut Footnotes, image: &str) -> Vec<Block> {
        let mut walker = TextWalker::new(links);
        walker.image_word = image.to_owned();
        walker.run(parser(&self.0))
    }
}

/// Why a link target cannot go in an email, if it cannot.
pub fn check_url(dest: &str) -> Result<(), String> {
    match url::Url::parse(dest) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) if u.scheme() == "mailto" && !u.path().is_empty() => Ok(()),
        Ok(u) => Err(format!(
            "uses {}:, but only http, https and mailto links are allowed",
            u.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Err("is relative; an email has no base address, so write the full https:// URL".into())
        }
        Err(e) => Err(format!("is not a valid URL ({e})")),
    }
}

fn escape_raw_html(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
        Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(s: &str) -> Markdown {
        Markdown::parse(s).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// Which blocks join the line before them (a tight list's later items,
    /// and a nested list's first); a list's first item never does.
    #[test]
    fn only_a_tight_lists_later_and_nested_items_join_the_line_before() {
        let tight = |s: &str| -> Vec<bool> {
            let mut notes = Footnotes::default();
            md(s).to_text(&mut notes).iter().map(|b| b.tight).collect()
        };
        assert_eq!(tight("- a\n- b\n- c\n"), [false, true, true]);
        assert_eq!(tight("- a\n- b\n\n1. c\n"), [false, true, false]);
        assert_eq!(tight("- a\n  - b\n"), [false, true]);
        assert_eq!(tight("Intro:\n\n- a\n- b\n"), [false, false, true]);
        assert_eq!(tight("- x\n\n> - q\n"), [false, false]);
        assert_eq!(tight("- a\n\n- b\n"), [false, false]);
    }

    #[test]
    fn plain_words_have_no_marks_or_link_numbers() {
        assert_eq!(
            md("Welcome to [our site](https://example.org), we are _really_\nglad. `x`")
                .plain_words(),
            "Welcome to our site, we are really glad. x"
        );
    }

    #[test]
    fn raw_html_is_escaped_not_passed_through() {
        let html =
            md("Hi <script>alert(1)</script> there\n\n<div onclick=x>block</div>\n").to_html();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&lt;div onclick=x&gt;"), "{html}");
    }

    #[test]
    fn javascript_and_relative_links_are_refused_with_their_offsets() {
        let err = Markdown::parse("ok [a](https://x.org) [b](javascript:alert(1))\n\n[c](/rel)")
            .expect_err("must refuse");
        assert_eq!(err.len(), 2);
        assert!(err[0].message.contains("javascript"), "{err:?}");
        assert_eq!(err[0].offset, 22);
        assert!(err[1].message.contains("relative"), "{err:?}");
    }

    #[test]
    fn http_https_mailto_and_email_autolinks_are_accepted() {
        md("[a](http://x.org) [b](https://x.org/p?q=1) [c](mailto:a@b.org) <a@b.org>");
    }

    #[test]
    fn text_numbers_links_and_reuses_numbers_for_the_same_url() {
        let mut notes = Footnotes::default();
        let blocks =
            md("See [this](https://a.org) and [that](https://b.org), [again](https://a.org).")
                .to_text(&mut notes);
        assert_eq!(blocks[0].text, "See this [1] and that [2], again [1].");
        let urls: Vec<_> = notes.iter().collect();
        assert_eq!(urls, vec![(1, "https://a.org"), (2, "https://b.org")]);
    }

    #[test]
    fn text_lists_get_markers_and_hanging_indents() {
        let mut notes = Footnotes::default();
        let blocks = md("- one\n- two\n\n3. three\n4. four\n").to_text(&mut notes);
        let firsts: Vec<_> = blocks
            .iter()
            .map(|b| (b.first.as_str(), b.text.as_str()))
            .collect();
        assert_eq!(
            firsts,
            vec![
                ("- ", "one"),
                ("- ", "two"),
                ("3. ", "three"),
                ("4. ", "four")
            ]
        );
        assert_eq!(blocks[2].rest, "   ");
    }

    #[test]
    fn text_keeps_emphasis_visible() {
        let mut notes = Footnotes::default();
        let blocks = md("*soft* and **loud**").to_text(&mut notes);
        assert_eq!(blocks[0].text, "_soft_ and *loud*");
    }
}
