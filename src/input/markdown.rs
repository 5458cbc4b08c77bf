//! The Markdown of story bodies, intros and the footer: checked once where
//! it is read, then rendered to HTML (raw HTML escaped) and to plain-text blocks.

use std::collections::HashMap;

use pulldown_cmark::{CowStr, Event, LinkType, Parser, Tag, TagEnd};

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
        TextWalker::new(links).run(parser(&self.0))
    }
}

/// The widest an image is shown: the text column of the 600 px layout.
pub const COLUMN: u32 = 536;

/// A local image as the HTML shows it: its address once published, and
/// its size in pixels read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// An image's size as shown: its own, or scaled down to the column's
/// width, keeping its proportions.
pub fn fit(width: u32, height: u32) -> (u32, u32) {
    if width <= COLUMN || width == 0 {
        return (width, height);
    }
    let scaled = u64::from(height) * u64::from(COLUMN) / u64::from(width);
    (COLUMN, u32::try_from(scaled.max(1)).unwrap_or(1))
}

/// Local images by their target as written.
pub type Media = HashMap<String, Placed>;

fn is_decorative(title: &str) -> bool {
    title.trim().eq_ignore_ascii_case("decorative")
}

/// Whether an image's target is a path to a local file (no scheme).
fn is_local(dest: &str) -> bool {
    matches!(
        url::Url::parse(dest),
        Err(url::ParseError::RelativeUrlWithoutBase)
    )
}

/// Why an image's target cannot go in an email, if it cannot: only
/// `https` (an `http` image is blocked or flagged by mail clients), or a
/// local file.
fn check_image(dest: &str) -> Result<(), String> {
    match url::Url::parse(dest) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Ok(()),
        Ok(u) if u.scheme() == "http" => Err(
            "uses http:; mail clients block or flag images not sent over https: use https://, or a file beside the issue".into(),
        ),
        Ok(u) => Err(format!(
            "uses {}:, but an image is an https URL or a file beside the issue",
            u.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) if !dest.trim().is_empty() => Ok(()),
        Err(url::ParseError::RelativeUrlWithoutBase) => Err("is empty".into()),
        Err(e) => Err(format!("is not a valid URL ({e})")),
    }
}

/// The events with each image (start, alt text, end) made one `<img>`:
/// its published address, its size, a style that scales it on phones.
struct Images<'a, 'm, I> {
    events: I,
    media: &'m Media,
    _src: std::marker::PhantomData<&'a ()>,
}

impl<'a, 'm, I: Iterator<Item = Event<'a>>> Images<'a, 'm, I> {
    fn new(events: I, media: &'m Media) -> Self {
        Self {
            events,
            media,
            _src: std::marker::PhantomData,
        }
    }
}

impl<'a, I: Iterator<Item = Event<'a>>> Iterator for Images<'a, '_, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let event = self.events.next()?;
        let Event::Start(Tag::Image {
            dest_url, title, ..
        }) = event
        else {
            return Some(event);
        };
        let mut alt = String::new();
        for inner in self.events.by_ref() {
            match inner {
                Event::End(TagEnd::Image) => break,
                Event::Text(t) | Event::Code(t) => alt.push_str(&t),
                Event::SoftBreak | Event::HardBreak => alt.push(' '),
                _ => {}
            }
        }
        if is_decorative(&title) {
            alt.clear();
        }
        Some(Event::Html(img(&dest_url, &alt, self.media).into()))
    }
}

/// One image's markup, every value escaped.
fn img(dest: &str, alt: &str, media: &Media) -> String {
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (src, size) = match media.get(dest) {
        Some(p) => (p.url.as_str(), Some((p.width, p.height))),
        None => (dest, None),
    };
    let size = size
        .filter(|(w, h)| *w > 0 && *h > 0)
        .map(|(w, h)| fit(w, h))
        .map_or(String::new(), |(w, h)| {
            format!(" width=\"{w}\" height=\"{h}\"")
        });
    format!(
        "<img src=\"{}\" alt=\"{}\"{size} style=\"display:block;max-width:100%;height:auto;border:0\">",
        escaped(src),
        escaped(alt)
    )
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

/// Link targets of the plain-text part, numbered in order of first use.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Footnotes {
    urls: Vec<String>,
    /// The numbers used since `take_used` last ran, in order of use.
    used: Vec<usize>,
}

impl Footnotes {
    /// The footnote number of `url`, the same one each time it recurs.
    pub fn number(&mut self, url: &str) -> usize {
        let n = match self.urls.iter().position(|u| u == url) {
            Some(i) => i + 1,
            None => {
                self.urls.push(url.to_owned());
                self.urls.len()
            }
        };
        if !self.used.contains(&n) {
            self.used.push(n);
        }
        n
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.urls
            .iter()
            .enumerate()
            .map(|(i, u)| (i + 1, u.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The notes numbered since the last call (a number met again
    /// included), by number: what a text issue lists after each story.
    pub fn take_used(&mut self) -> Vec<(usize, &str)> {
        let mut used = std::mem::take(&mut self.used);
        used.sort_unstable();
        used.into_iter()
            .filter_map(|n| Some((n, self.urls.get(n - 1)?.as_str())))
            .collect()
    }
}

/// A block of plain text before wrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// What the first line starts with (list marker, quote mark, indent).
    pub first: String,
    /// What every later line starts with.
    pub rest: String,
    pub text: String,
    /// Code: kept line for line, never wrapped.
    pub verbatim: bool,
    /// The text of an item of a tight list (no blank line between items in
    /// the Markdown) that follows the item before it, or opens a list
    /// nested in that item: it goes on the next line, with no blank line.
    pub tight: bool,
}

struct TextWalker<'a> {
    links: &'a mut Footnotes,
    blocks: Vec<Block>,
    text: String,
    /// Open lists: the next number, or None for bullets.
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    marker: Option<String>,
    link_stack: Vec<String>,
    /// Open images: whether each is decorative (shown as nothing).
    images: Vec<bool>,
    verbatim: bool,
    /// Inside a paragraph: a loose list's items are paragraphs, a tight
    /// list's are not.
    paragraph: bool,
    /// Items begun in each open list (parallel to `lists`).
    items: Vec<u32>,
    /// Whether the block being gathered is the first text of its item.
    item_start: bool,
}

impl<'a> TextWalker<'a> {
    fn new(links: &'a mut Footnotes) -> Self {
        Self {
            links,
            blocks: Vec::new(),
            text: String::new(),
            lists: Vec::new(),
            quote_depth: 0,
            marker: None,
            link_stack: Vec::new(),
            images: Vec::new(),
            verbatim: false,
            paragraph: false,
            items: Vec::new(),
            item_start: false,
        }
    }

    fn run<'e>(mut self, events: impl Iterator<Item = Event<'e>>) -> Vec<Block> {
        for event in events {
            self.event(event);
        }
        self.flush();
        self.blocks
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) | Event::Html(s) | Event::InlineHtml(s) => self.push_text(&s),
            Event::Code(s) => self.text.push_str(&s),
            Event::SoftBreak => self.text.push(' '),
            Event::HardBreak => self.text.push('\n'),
            Event::Rule => {
                self.flush();
                self.text.push_str("* * *");
                self.flush();
            }
            _ => {}
        }
    }

    fn push_text(&mut self, s: &CowStr<'_>) {
        if self.verbatim {
            self.text.push_str(s);
        } else {
            // Block HTML arrives with its own line ends; fold them like soft breaks.
            self.text.push_str(&s.replace('\n', " "));
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                self.flush();
                self.paragraph = true;
            }
            Tag::Heading { .. } | Tag::HtmlBlock => self.flush(),
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote_depth += 1;
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.verbatim = true;
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
                self.items.push(0);
            }
            Tag::Item => {
                self.flush();
                if let Some(n) = self.items.last_mut() {
                    *n += 1;
                }
                self.item_start = true;
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_owned(),
                };
                self.marker = Some(marker);
            }
            Tag::Emphasis => self.text.push('_'),
            Tag::Strong => self.text.push('*'),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let url = if link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                self.link_stack.push(url);
            }
            Tag::Image { title, .. } => {
                let decorative = is_decorative(&title);
                if !decorative {
                    self.text.push_str("[Image: ");
                }
                self.images.push(decorative);
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.flush();
                self.paragraph = false;
            }
            TagEnd::Heading(_) | TagEnd::HtmlBlock | TagEnd::Item => self.flush(),
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            TagEnd::CodeBlock => {
                self.flush();
                self.verbatim = false;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                self.items.pop();
            }
            TagEnd::Emphasis => self.text.push('_'),
            TagEnd::Strong => self.text.push('*'),
            TagEnd::Link => self.close_link(""),
            TagEnd::Image => self.close_image(),
            _ => {}
        }
    }

    /// `]` after an image's alt text (a decorative one shows nothing).
    fn close_image(&mut self) {
        if self.images.pop() == Some(false) {
            self.text.push(']');
        }
    }

    fn close_link(&mut self, closing: &str) {
        if let Some(url) = self.link_stack.pop() {
            let n = self.links.number(&url);
            self.text.push_str(closing);
            self.text.push_str(&format!(" [{n}]"));
        }
    }

    /// Ends the current block, if it has any text.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let text = if self.verbatim {
            text.trim_end_matches('\n').to_owned()
        } else {
            text.trim().to_owned()
        };
        if text.is_empty() {
            return;
        }
        let quote = "> ".repeat(self.quote_depth);
        let depth = self.lists.len().saturating_sub(1);
        let (first, rest) = match self.marker.take() {
            Some(marker) => {
                let indent = "   ".repeat(depth);
                let hang = " ".repeat(marker.chars().count());
                (
                    format!("{quote}{indent}{marker}"),
                    format!("{quote}{indent}{hang}"),
                )
            }
            None if !self.lists.is_empty() => {
                // A second paragraph inside a list item lines up with its text.
                let indent = "   ".repeat(depth + 1);
                (format!("{quote}{indent}"), format!("{quote}{indent}"))
            }
            None if self.verbatim => (format!("{quote}    "), format!("{quote}    ")),
            None => (quote.clone(), quote),
        };
        // An item's own text in a tight list joins the line before it when
        // an item of the same list came before, or when its list is nested
        // in an item (it follows that item's text); the first item of a
        // list on its own never joins what came before the list.
        let in_tight_item = !self.lists.is_empty() && !self.paragraph && !self.verbatim;
        let item_start = std::mem::take(&mut self.item_start);
        let follows_item = self.items.last().is_some_and(|&n| n > 1) || self.items.len() > 1;
        let tight = in_tight_item && item_start && follows_item;
        self.blocks.push(Block {
            first,
            rest,
            text,
            verbatim: self.verbatim,
            tight,
        });
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
