//! Markdown as the plain-text part shows it: blocks to wrap, list
//! markers and quote marks, emphasis kept visible, links numbered as
//! footnotes, images as `[Image: alt]`.

use pulldown_cmark::{CowStr, Event, LinkType, Tag, TagEnd};

use super::images::is_decorative;

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

pub(super) struct TextWalker<'a> {
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
    /// The word an image is shown with: `[Image: alt]`.
    pub(super) image_word: String,
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
    pub(super) fn new(links: &'a mut Footnotes) -> Self {
        Self {
            links,
            blocks: Vec::new(),
            text: String::new(),
            lists: Vec::new(),
            quote_depth: 0,
            marker: None,
            link_stack: Vec::new(),
            images: Vec::new(),
            image_word: "Image".to_owned(),
            verbatim: false,
            paragraph: false,
            items: Vec::new(),
            item_start: false,
        }
    }

    pub(super) fn run<'e>(mut self, events: impl Iterator<Item = Event<'e>>) -> Vec<Block> {
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
                    self.text.push('[');
                    self.text.push_str(&self.image_word);
                    self.text.push_str(": ");
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
