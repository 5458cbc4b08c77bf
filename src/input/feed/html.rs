//! A feed entry's HTML turned into the Markdown an issue's story holds:
//! scripts and styles dropped, links and images made absolute against the
//! site's address, and any target a mail cannot carry (javascript:, a
//! relative link with no base) left out, its text kept, so the draft
//! passes `check`.

use htmd::element_handler::{HandlerResult, Handlers};
use htmd::{Element, HtmlToMarkdown};
use url::Url;

/// Elements whose content is never a reader's text.
const DROPPED: [&str; 8] = [
    "script", "style", "noscript", "template", "iframe", "object", "embed", "form",
];

/// `html` as Markdown; relative targets resolved against `base`.
pub fn to_markdown(html: &str, base: Option<&Url>) -> String {
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
    let markdown = converter.convert(html).unwrap_or_else(|_| plain_text(html));
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
        .and_then(|a| absolute(&a.value, base));
    let Some(target) = target else {
        return if image {
            None
        } else {
            Some(handlers.walk_children(element.node))
        };
    };
    let attrs: Vec<_> = element
        .attrs
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if &*a.name.local == key {
                a.value = target.clone().into();
            }
            a
        })
        .collect();
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
    markdown
        .replace("{{", "{\\{")
        .replace("{%", "{\\%")
        .replace("{#", "{\\#")
}

/// A headline or subject (no Markdown) kept from holding a field: `{ {`.
pub fn neutral_line(text: &str) -> String {
    text.replace("{{", "{ {")
        .replace("{%", "{ %")
        .replace("{#", "{ #")
}

/// Markup stripped by hand, for the one case htmd gives up.
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
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
    fn plain_text_is_escaped_into_paragraphs() {
        let md = to_markdown(&text_as_html("a <b> & c\n\nsecond"), None);
        assert!(md.starts_with("a \\<b> & c"), "{md}");
        assert!(md.contains("\n\nsecond"), "{md}");
    }
}
