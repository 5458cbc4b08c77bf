//! A feed entry's HTML turned into the Markdown an issue's story holds:
//! scripts and styles dropped, links and images made absolute against the
//! site's address, and any target a mail cannot carry (javascript:, a
//! relative link with no base) left out, its text kept, so the draft
//! passes `check`.

use htmd::element_handler::{HandlerResult, Handlers};
use htmd::{Element, HtmlToMarkdown};
use url::Url;

use super::plain::plain_text;

/// Elements whose content is never a reader's text.
const DROPPED: [&str; 8] = [
    "script", "style", "noscript", "template", "iframe", "object", "embed", "form",
];

/// Elements nested deeper than this are past any page a person wrote;
/// the converter walks them by recursion, so such an entry is read as
/// plain text rather than risk the stack.
const MAX_DEPTH: usize = 128;

/// An entry with more start tags than this is read as plain text without
/// being parsed: the parser's work grows with the square of how deep its
/// elements nest, and a tree this size is past any entry a person wrote.
const MAX_TAGS: usize = 4_000;

/// A story's body past this many bytes of Markdown is cut at a paragraph
/// and points to the rest on the site: an issue carries many stories, and
/// Gmail clips a message past about 102 KB.
pub const MAX_BODY: usize = 16 * 1024;

/// `html` as Markdown; relative targets resolved against `base`.
pub fn to_markdown(html: &str, base: Option<&Url>) -> String {
    if start_tags(html) > MAX_TAGS || depth(html) > MAX_DEPTH {
        return neutral_fields(&escape_markdown(&plain_text(&without_dropped(html))));
    }
    let (for_links, for_images) = (base.cloned(), base.cloned());
    let converter = HtmlToMarkdown::builder()
        .skip_tags(DROPPED.to_vec())
        .add_handler(
            vec!["a"],
            move |handlers: &dyn Handlers, element: Element| {
                retarget(handlers, element, "href", for_links.as_ref(), false)
            },
        )
        .add_handler(
            vec!["img"],
            move |handlers: &dyn Handlers, element: Element| {
                retarget(handlers, element, "src", for_images.as_ref(), true)
            },
        )
        .build();
    // htmd reads with html5ever, which takes any input; an error here is
    // only its I/O plumbing, so the text is kept rather than lost.
    let markdown = converter
        .convert(html)
        .unwrap_or_else(|_| escape_markdown(&plain_text(html)));
    neutral_fields(markdown.trim())
}

/// An `a` or `img` with its target absolute, handed back to htmd's own
/// handler; without a usable target, an `a` is its text and an `img` is
/// dropped.
fn retarget(
    handlers: &dyn Handlers,
    element: Element,
    key: &str,
    base: Option<&Url>,
    image: bool,
) -> Option<HandlerResult> {
    let target = element
        .attrs
        .iter()
        .find(|a| &*a.name.local == key)
        .and_then(|a| absolute(&a.value, base))
        // A mail shows images over https only (`check` refuses others).
        .filter(|t| !image || t.starts_with("https://"));
    let Some(target) = target else {
        return if image {
            None
        } else {
            Some(handlers.walk_children(element.node))
        };
    };
    let mut attrs: Vec<_> = element
        .attrs
        .iter()
        .filter(|a| !(image && &*a.name.local == "title"))
        .map(|a| {
            let mut a = a.clone();
            if &*a.name.local == key {
                a.value = target.clone().into();
            }
            a
        })
        .collect();
    // An image the feed gives no alt text is marked decorative, so the
    // draft passes `check`; the editor may describe it instead.
    let has_alt = element
        .attrs
        .iter()
        .any(|a| &*a.name.local == "alt" && !a.value.trim().is_empty());
    if image
        && !has_alt
        && let Some(src) = attrs.iter().find(|a| &*a.name.local == key)
    {
        let mut title = src.clone();
        title.name.local = "title".into();
        title.value = "decorative".into();
        attrs.push(title);
    }
    let mut element = element;
    element.attrs = &attrs;
    handlers.fallback(element)
}

/// `target` as an absolute http(s) or mailto URL, resolved against `base`
/// when relative; `None` for anything a mail cannot link to.
pub fn absolute(target: &str, base: Option<&Url>) -> Option<String> {
    let target = target.trim();
    if target.is_empty() {
        return None;
    }
    let url = match Url::parse(target) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(target).ok()?,
        Err(_) => return None,
    };
    let fine = match url.scheme() {
        "http" | "https" => url.host_str().is_some(),
        "mailto" => !url.path().is_empty(),
        _ => false,
    };
    fine.then(|| url.to_string())
}

/// Text with `{{`, `{%` and `{#` kept from being read as a reader's field
/// (an issue's bodies may hold fields): a Markdown backslash escape,
/// which the reader sees as the same characters.
pub fn neutral_fields(markdown: &str) -> String {
    split_marks(markdown, "\\")
}

/// A headline or subject (no Markdown) kept from holding a field: `{ {`.
pub fn neutral_line(text: &str) -> String {
    split_marks(text, " ")
}

/// `text` with `between` after every `{` that would open a field with the
/// character after it, so no `{{`, `{%` or `{#` is left, however many
/// braces run together (`{{{` included).
fn split_marks(text: &str, between: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '{' && matches!(chars.peek(), Some('{' | '%' | '#')) {
            out.push_str(between);
        }
    }
    out
}

/// `html` without the elements in `DROPPED` and what they hold, for the
/// plain-text reading (the converter drops them itself). An element left
/// open drops the rest.
fn without_dropped(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    while at < html.len() {
        let next = DROPPED
            .iter()
            .filter_map(|tag| {
                let open = format!("<{tag}");
                let mut from = at;
                // `<script` but not `<scripts…`.
                while let Some(i) = lower[from..].find(&open) {
                    let start = from + i;
                    let after = lower.as_bytes().get(start + open.len()).copied();
                    if after.is_none_or(|b| b == b'>' || b == b'/' || b.is_ascii_whitespace()) {
                        return Some((start, *tag));
                    }
                    from = start + open.len();
                }
                None
            })
            .min();
        let Some((start, tag)) = next else {
            out.push_str(&html[at..]);
            break;
        };
        out.push_str(&html[at..start]);
        let close = format!("</{tag}");
        at = match lower[start..].find(&close) {
            Some(i) => {
                let end = start + i;
                lower[end..].find('>').map_or(html.len(), |j| end + j + 1)
            }
            None => html.len(),
        };
    }
    out
}

/// Plain text kept from being read as Markdown.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_[]<>#!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How many start tags `html` holds (a `<` before a letter), counted in
/// one pass.
fn start_tags(html: &str) -> usize {
    memchr::memchr_iter(b'<', html.as_bytes())
        .filter(|&i| {
            html.as_bytes()
                .get(i + 1)
                .is_some_and(u8::is_ascii_alphabetic)
        })
        .count()
}

/// How deep elements nest in `html`, measured on the tree html5ever
/// builds of it (what htmd walks: `<div/>` opens a `div`, a stray end tag
/// closes nothing), by a walk of our own without recursion; it stops once
/// past `MAX_DEPTH`.
fn depth(html: &str) -> usize {
    use html5ever::tendril::TendrilSink;
    use markup5ever_rcdom::{NodeData, RcDom};
    let dom = html5ever::parse_document(RcDom::default(), Default::default()).one(html);
    let mut most = 0;
    let mut stack = vec![(dom.document.clone(), 0usize)];
    while let Some((node, d)) = stack.pop() {
        most = most.max(d);
        if most > MAX_DEPTH + 3 {
            break;
        }
        if let NodeData::Element {
            template_contents, ..
        } = &node.data
            && let Some(inner) = template_contents.borrow().as_ref()
        {
            stack.push((inner.clone(), d + 1));
        }
        for child in node.children.borrow().iter() {
            stack.push((child.clone(), d + 1));
        }
    }
    // `html`, `body` and the document itself are not the entry's.
    most.saturating_sub(3)
}

/// `markdown` cut to `MAX_BODY` at the last paragraph that fits, with a
/// line pointing to the whole on the site (`link`); as it is when short.
pub fn shortened(markdown: String, link: Option<&str>) -> String {
    if markdown.len() <= MAX_BODY {
        return markdown;
    }
    let mut cut = MAX_BODY;
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &markdown[..cut];
    // A paragraph's end, else a line's, else a word's: never inside one.
    let end = head
        .rfind("\n\n")
        .or_else(|| head.rfind('\n'))
        .or_else(|| head.rfind(' '))
        .unwrap_or(cut);
    let mut out = head[..end].trim_end().to_owned();
    // A code fence cut open would swallow what follows it.
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    out.push_str("\n\n");
    match link {
        Some(link) => out.push_str(&format!("[Read the rest on the site]({link})")),
        None => out.push('…'),
    }
    out
}

/// A plain-text entry (`type="text"`) as HTML, so one converter escapes
/// what Markdown would read: paragraphs at blank lines.
pub fn text_as_html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    escaped
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/blog/").expect("url")
    }

    #[test]
    fn scripts_and_styles_are_dropped_and_the_text_kept() {
        let md = to_markdown(
            "<p>Hello <b>world</b></p><script>alert('x')</script><style>p{color:red}</style>",
            Some(&base()),
        );
        assert!(md.contains("Hello **world**"), "{md}");
        assert!(!md.contains("alert") && !md.contains("color"), "{md}");
    }

    #[test]
    fn relative_links_and_images_become_absolute_against_the_site() {
        let md = to_markdown(
            r#"<p><a href="/posts/one">One</a> and <a href="two.html">two</a> <img src="img/a.png" alt="A"></p>"#,
            Some(&base()),
        );
        assert!(md.contains("[One](https://example.org/posts/one)"), "{md}");
        assert!(
            md.contains("[two](https://example.org/blog/two.html)"),
            "{md}"
        );
        assert!(
            md.contains("![A](https://example.org/blog/img/a.png)"),
            "{md}"
        );
        assert!(crate::input::markdown::Markdown::parse(&md).is_ok(), "{md}");
    }

    #[test]
    fn images_are_https_and_described_or_marked_decorative() {
        let md = to_markdown(
            r#"<img src="http://example.org/a.png" alt="A"> <img src="/b.png"> <img src="https://example.org/c.png" alt="C" title="t">"#,
            Some(&Url::parse("https://example.org/").expect("url")),
        );
        assert!(!md.contains("a.png"), "{md}");
        assert!(
            md.contains("![](https://example.org/b.png \"decorative\")"),
            "{md}"
        );
        assert!(md.contains("![C](https://example.org/c.png)"), "{md}");
        assert!(crate::input::markdown::Markdown::parse(&md).is_ok(), "{md}");
    }

    #[test]
    fn a_link_a_mail_cannot_carry_keeps_only_its_text() {
        let md = to_markdown(
            r#"<a href="javascript:alert(1)">Click</a> <a href="rel">rel</a> <img src="x.png">"#,
            None,
        );
        assert_eq!(md, "Click rel");
    }

    #[test]
    fn field_marks_in_the_text_are_not_read_as_fields() {
        let md = to_markdown("<p>Use {{ name }} and {% if %}</p>", None);
        assert!(!crate::input::fields::has_fields(&md), "{md}");
        assert!(md.contains("{\\{ name }}"), "{md}");
        assert_eq!(neutral_line("a {{ b }}"), "a { { b }}");
    }

    #[test]
    fn runs_of_braces_leave_no_field_mark() {
        for text in ["{{{ x }}}", "{{{{ x", "{{% x", "{{# x", "{%{{"] {
            let md = to_markdown(&format!("<p>{text}</p>"), None);
            assert!(!crate::input::fields::has_fields(&md), "{text} -> {md}");
            let line = neutral_line(text);
            assert!(!crate::input::fields::has_fields(&line), "{text} -> {line}");
            for mark in ["{{", "{%", "{#"] {
                assert!(
                    !md.contains(mark) && !line.contains(mark),
                    "{text}: {md} / {line}"
                );
            }
        }
    }

    #[test]
    fn html_nested_past_any_page_is_read_as_text_not_walked() {
        let deep = format!(
            "{}deep text{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let md = to_markdown(&deep, None);
        assert_eq!(md, "deep text");
        let shallow = format!("{}<b>kept</b>{}", "<div>".repeat(20), "</div>".repeat(20));
        assert_eq!(to_markdown(&shallow, None), "**kept**");
        // Measured on the tree the parser builds: an unclosed `<p>` or
        // `<li>` closes at the next; `<div/>` opens a `div`, and a stray
        // end tag closes nothing.
        assert_eq!(depth("<p>a<br><img src=x><p>b</p></p>"), 1);
        assert!(depth(&"<li>item ".repeat(1000)) < 5);
        assert!(depth(&"<p>para ".repeat(1000)) < 5);
        assert_eq!(start_tags("<p>a < b <br/></p><!-- x -->"), 2);
        for fooling in ["<div/>", "<div></b>", "<section></i></em>"] {
            let deep = fooling.repeat(300);
            assert!(depth(&deep) > MAX_DEPTH, "{fooling}");
            assert!(
                !to_markdown(&format!("{deep}x"), None).contains('<'),
                "{fooling}"
            );
        }
        // Read as text, its scripts and styles are still dropped.
        let scripted = format!(
            "{}kept<SCRIPT type=x>if (a<b) steal()</script><style>p{{}}</style> too{}",
            "<div>".repeat(200),
            "</div>".repeat(200)
        );
        assert_eq!(to_markdown(&scripted, None), "kept too");
    }

    #[test]
    fn a_long_body_is_cut_at_a_paragraph_and_points_to_the_site() {
        let para = "word ".repeat(200);
        let long = vec![para.trim(); 40].join("\n\n");
        let short = shortened(long.clone(), Some("https://example.org/p"));
        assert!(short.len() < MAX_BODY + 100, "{}", short.len());
        assert!(short.ends_with("[Read the rest on the site](https://example.org/p)"));
        let kept = short.trim_end_matches("[Read the rest on the site](https://example.org/p)");
        assert!(long.starts_with(kept.trim_end()), "cut inside a paragraph");
        assert_eq!(shortened("short".into(), None), "short");
    }

    #[test]
    fn plain_text_is_escaped_into_paragraphs() {
        let md = to_markdown(&text_as_html("a <b> & c\n\nsecond"), None);
        assert!(md.starts_with("a \\<b> & c"), "{md}");
        assert!(md.contains("\n\nsecond"), "{md}");
    }
}
