//! The plain-text part: wrapped at 72 columns, headings underlined, links as
//! numbered footnotes listed at the end (for a text-only issue, after the
//! intro and each story, where the reader is).

use textwrap::core::display_width;
use textwrap::{Options, WordSeparator, WordSplitter};

use super::{LINK, Place, WRAP_CLOSE, WRAP_OPEN, WRAP_SEP, dateline, field_of};
use crate::input::config::Newsletter;
use crate::input::issue::{Format, Issue, Layout};
use crate::input::markdown::{Block, Footnotes};

/// Where lines are wrapped. Only a single word longer than this (a long
/// URL) makes a longer line: a broken URL would not work.
pub const WIDTH: usize = 72;

pub fn render_text(newsletter: &Newsletter, issue: &Issue, place: Place<'_>) -> String {
    text(newsletter, issue, place, true)
}

/// A text-only issue as its archive page shows it: the mail's text
/// without the masthead (the page has its own) or the footer.
pub fn page_text(newsletter: &Newsletter, issue: &Issue) -> String {
    let place = Place::Mail {
        unsubscribe: false,
        online: None,
    };
    text(newsletter, issue, place, false)
}

fn text(newsletter: &Newsletter, issue: &Issue, place: Place<'_>, mail: bool) -> String {
    let mut links = Footnotes::default();
    let mut out: Vec<String> = Vec::new();
    let words = newsletter.words(issue.lang_in(newsletter));
    // A text-only issue is read as it is: each story's links under it.
    let notes_here = issue.format_in(newsletter) == Format::Text;
    let notes = |out: &mut Vec<String>, links: &mut Footnotes| {
        let used = links.take_used();
        if notes_here && !used.is_empty() {
            out.push(notes_list(used));
        }
    };
    let unsubscribe = matches!(
        place,
        Place::Mail {
            unsubscribe: true,
            ..
        }
    );
    if let Place::Mail {
        online: Some(online),
        ..
    } = place
    {
        out.push(format!("{}: {online}", words.view_in_browser));
    }

    if mail {
        let masthead = underlined(newsletter.name.as_str(), '=');
        out.push(match dateline(issue, &words) {
            Some(dateline) => format!("{masthead}\n{dateline}"),
            None => masthead,
        });
    }
    if let Some(intro) = &issue.intro {
        push_blocks(&mut out, &intro.to_text_in(&mut links, &words.image));
        notes(&mut out, &mut links);
    }

    match issue.layout {
        Layout::Digest => {
            out.push(underlined(&words.headlines, '-'));
            let list: Vec<String> = issue
                .stories
                .iter()
                .enumerate()
                .map(|(i, s)| numbered(i + 1, s.headline.as_str()))
                .collect();
            out.push(list.join("\n"));
            out.push(underlined(&words.details, '-'));
        }
        Layout::Letter => {}
    }
    let one_letter = issue.layout == Layout::Letter && issue.stories.len() == 1;
    for (i, story) in issue.stories.iter().enumerate() {
        match issue.layout {
            Layout::Digest => out.push(numbered(i + 1, story.headline.as_str())),
            // A letter's one story is just its text.
            Layout::Letter if one_letter => {}
            Layout::Letter => out.push(underlined(story.headline.as_str(), '-')),
        }
        push_blocks(&mut out, &story.body.to_text_in(&mut links, &words.image));
        if let Some(link) = &story.link {
            out.push(format!("{} [{}]", words.read_more, links.number(link)));
        }
        notes(&mut out, &mut links);
    }
    if !mail {
        let mut text = out.join("\n\n");
        text.push('\n');
        return text;
    }

    let mut footer: Vec<String> = Vec::new();
    if let Some(about) = &newsletter.about {
        push_blocks(&mut footer, &about.to_text(&mut links));
        notes(&mut footer, &mut links);
    }
    if let Some(address) = &newsletter.postal_address {
        let lines: Vec<String> = address.iter().map(|l| wrap(l.as_str(), "", "")).collect();
        footer.push(lines.join("\n"));
    }
    if unsubscribe {
        footer.push(format!("{}\n{LINK}", words.unsubscribe_text));
    }
    if !footer.is_empty() {
        // "-- " marks a signature: mail clients show what follows as one.
        out.push(format!("-- \n{}", footer.join("\n\n")));
    }

    if !notes_here && !links.is_empty() {
        out.push(notes_list(links.iter().collect()));
    }
    let mut text = out.join("\n\n");
    text.push('\n');
    text
}

/// `[1] https://…`, one a line.
fn notes_list(notes: Vec<(usize, &str)>) -> String {
    notes
        .into_iter()
        .map(|(n, url)| format!("[{n}] {url}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each block wrapped, as paragraphs (a blank line between them), but
/// the items of a tight list on consecutive lines (`Block::tight`).
fn push_blocks(out: &mut Vec<String>, blocks: &[Block]) {
    for (i, block) in blocks.iter().enumerate() {
        let text = wrap_block(block);
        match out.last_mut() {
            Some(last) if block.tight && i > 0 => {
                last.push('\n');
                last.push_str(&text);
            }
            _ => out.push(text),
        }
    }
}

fn underlined(title: &str, mark: char) -> String {
    let title = wrap(title, "", "");
    let width = title.lines().map(display_width).max().unwrap_or(0);
    format!("{title}\n{}", mark.to_string().repeat(width))
}

fn numbered(n: usize, text: &str) -> String {
    let marker = format!("{n}. ");
    let hang = " ".repeat(marker.len());
    wrap_for_reader(text, &marker, &hang)
}

fn wrap_block(block: &Block) -> String {
    if block.verbatim {
        return block
            .text
            .lines()
            .map(|l| format!("{}{l}", block.first))
            .collect::<Vec<_>>()
            .join("\n");
    }
    // Hard breaks inside a paragraph start a new line at the hanging indent.
    block
        .text
        .split('\n')
        .enumerate()
        .map(|(i, part)| {
            let first = if i == 0 { &block.first } else { &block.rest };
            wrap_for_reader(part.trim(), first, &block.rest)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `wrap`, or for text that holds a field, the marks that have it
/// wrapped once each reader's values are in (`Part`): the width of a
/// value is not known before.
fn wrap_for_reader(text: &str, first: &str, rest: &str) -> String {
    if text.chars().any(|c| field_of(c).is_some()) {
        format!("{WRAP_OPEN}{first}{WRAP_SEP}{rest}{WRAP_SEP}{text}{WRAP_CLOSE}")
    } else {
        wrap(text, first, rest)
    }
}

pub(crate) fn wrap(text: &str, first: &str, rest: &str) -> String {
    let options = Options::new(WIDTH)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(false)
        .word_separator(WordSeparator::AsciiSpace)
        .word_splitter(WordSplitter::NoHyphenation);
    textwrap::wrap(text, options).join("\n")
}
