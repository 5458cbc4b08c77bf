//! A site's feed (RSS 2.0, Atom or JSON Feed), read by feed-rs into our
//! own entries, newest first, each with its HTML made Markdown; a feed
//! that cannot be read says why, at its XML line when there is one.
//! `draft` turns the entries into an issue's TOML.

pub mod draft;
pub mod html;
pub mod plain;

use url::Url;

/// One entry of the feed, as a story needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id (`guid`, Atom `id`, JSON `id`), or one made from its
    /// link and title: the same each time the feed is read.
    pub id: String,
    /// One line, never empty.
    pub title: String,
    /// The entry's page, absolute.
    pub link: Option<String>,
    /// Its summary, else its content, as Markdown (links absolute).
    pub markdown: String,
}

/// The feed as a draft needs it.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The site's own address (the feed's link), which relative links are
    /// read against.
    pub site: Option<Url>,
    /// Newest first (by published, else updated date; feed order between
    /// entries without one).
    pub entries: Vec<Entry>,
}

/// Why the feed could not be read: the message, and the line of the
/// feed's text it is about, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError {
    pub line: Option<usize>,
    pub message: String,
}

/// Reads `bytes`; `fetched_from` (the feed's URL, when fetched) is the
/// base of last resort for relative links.
pub fn parse(bytes: &[u8], fetched_from: Option<&Url>) -> Result<Feed, FeedError> {
    // No base for feed-rs: relative links are read against the site's
    // address (below), the feed's URL only when it names no site.
    let parser = feed_rs::parser::Builder::new()
        .id_generator(stable_id)
        .build();
    let feed = parser.parse(bytes).map_err(|e| explain(bytes, &e))?;
    let site = site_link(&feed.links).or_else(|| fetched_from.map(public));
    let mut dated: Vec<(Option<i64>, usize, Entry)> = feed
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let when = e.published.or(e.updated).map(|d| d.timestamp());
            (when, i, entry(e, site.as_ref()))
        })
        .collect();
    // Newest first; undated entries keep their place after the dated.
    dated.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => y.cmp(&x).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    // An id twice (a feed's mistake) is one entry: the newer.
    let mut seen = std::collections::HashSet::new();
    let entries = dated
        .into_iter()
        .map(|(_, _, e)| e)
        .filter(|e| seen.insert(e.id.clone()))
        .collect();
    Ok(Feed { site, entries })
}

/// A fetched URL as a base for links a reader sees: without the user,
/// password, query or fragment (a private feed's token stays out of the
/// draft).
fn public(url: &Url) -> Url {
    let mut url = url.clone();
    // Setting these fails only for URLs with no host (not http(s)).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The site's page among the feed's links: `alternate` (or no rel), never
/// `self` (the feed itself).
fn site_link(links: &[feed_rs::model::Link]) -> Option<Url> {
    links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .find_map(|l| Url::parse(&l.href).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
}

fn entry(e: feed_rs::model::Entry, site: Option<&Url>) -> Entry {
    let link = site_link(&e.links)
        .map(|u| u.to_string())
        .or_else(|| {
            e.links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .and_then(|l| html::absolute(&l.href, site))
        })
        .and_then(|l| html::absolute(&l, site));
    let text = |t: &feed_rs::model::Text| {
        if t.content_type.subty() == "plain" {
            html::text_as_html(&t.content)
        } else {
            t.content.clone()
        }
    };
    let content = |c: &feed_rs::model::Content| {
        let body = c.body.as_ref()?;
        let kind = &c.content_type;
        if kind.ty() == "text" && kind.subty() == "plain" {
            Some(html::text_as_html(body))
        } else if kind.subty() == "html" || kind.suffix().is_some_and(|s| s == "xml") {
            Some(body.clone())
        } else {
            // Anything else (base64 media, a type no mail shows) is no
            // reader's text.
            None
        }
    };
    let source = e
        .summary
        .as_ref()
        .filter(|s| !s.content.trim().is_empty())
        .map(text)
        .or_else(|| e.content.as_ref().and_then(content))
        .unwrap_or_default();
    let markdown = html::to_markdown(&source, site);
    let markdown = html::shortened(markdown, link.as_deref());
    let title = e
        .title
        .as_ref()
        .map(|t| {
            if t.content_type.subty() == "plain" {
                t.content.clone()
            } else {
                plain::plain_text(&t.content)
            }
        })
        .map(|t| one_line(&t))
        .filter(|t| !t.is_empty())
        .or_else(|| link.clone())
        .unwrap_or_else(|| "Untitled".to_owned());
    let id = if e.id == NO_ID {
        id_from_content(&e, &source)
    } else {
        e.id
    };
    Entry {
        id,
        title,
        link,
        markdown,
    }
}

/// Whitespace (line breaks too) folded to single spaces, control
/// characters dropped.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// What `stable_id` gives an entry with no id, link or title, for
/// `id_from_content` to replace (the generator sees no more of it).
const NO_ID: &str = "bulletin:no-id";

/// An entry with nothing to name it by, named by its dates and text: two
/// such entries are two, and each is the same on every read.
fn id_from_content(e: &feed_rs::model::Entry, source: &str) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    for date in [e.published, e.updated] {
        hash.update(date.map(|d| d.timestamp()).unwrap_or(0).to_be_bytes());
    }
    hash.update(source.as_bytes());
    let digest = hash.finalize();
    let short: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{short}")
}

/// An id for an entry without one, the same on every read (feed-rs's
/// last resort is a random UUID, which would draft the entry every time).
fn stable_id(
    links: &[feed_rs::model::Link],
    title: &Option<feed_rs::model::Text>,
    _uri: Option<&str>,
) -> String {
    match (links.first(), title) {
        (Some(link), _) => feed_rs::parser::generate_id_from_link_and_title(link, title),
        (None, Some(title)) => feed_rs::parser::generate_id_from_uri_and_title("", title),
        (None, None) => NO_ID.to_owned(),
    }
}

fn explain(bytes: &[u8], e: &feed_rs::parser::ParseFeedError) -> FeedError {
    use feed_rs::parser::{ParseErrorKind, ParseFeedError};
    let at = |position: u64| Some(line_of(bytes, position));
    match e {
        ParseFeedError::XmlReader(x) => FeedError {
            line: xml_error_line(bytes),
            message: format!("not well-formed XML: {x}"),
        },
        ParseFeedError::JsonSerde(j) => FeedError {
            line: Some(j.line()).filter(|l| *l > 0),
            message: format!("not a JSON Feed: {j}"),
        },
        ParseFeedError::JsonUnsupportedVersion(v) => FeedError {
            line: None,
            message: format!("a JSON Feed of a version not supported ({v})"),
        },
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => FeedError {
            line: xml_error_line(bytes),
            message: "not an RSS, Atom or JSON feed (no <rss>, <feed> or JSON Feed object found)"
                .into(),
        },
        ParseFeedError::ParseError(
            k @ (ParseErrorKind::UnknownMimeType { position, .. }
            | ParseErrorKind::MissingContent { position, .. }
            | ParseErrorKind::UnknownEnumVariant { position, .. }
            | ParseErrorKind::IllegalState { position, .. }),
        ) => FeedError {
            line: at(*position),
            message: format!("not a feed bulletin can read: {k}"),
        },
        other => FeedError {
            line: None,
            message: format!("cannot be read: {other}"),
        },
    }
}

/// The 1-based line of byte `position`.
fn line_of(bytes: &[u8], position: u64) -> usize {
    let end = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes[..end].iter().filter(|b| **b == b'\n').count() + 1
}

/// Where quick-xml (the reader under feed-rs) finds the XML broken.
fn xml_error_line(bytes: &[u8]) -> Option<usize> {
    let trimmed = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if !matches!(bytes[trimmed], b'<') {
        return None;
    }
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => return None,
            Ok(_) => buf.clear(),
            Err(_) => return Some(line_of(bytes, reader.error_position())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Site</title><link>https://example.org/</link>
<item><title>Old</title><link>/old</link><guid>old-1</guid>
<pubDate>Mon, 01 Aug 2022 08:00:00 GMT</pubDate><description>&lt;p&gt;See &lt;a href="/x"&gt;x&lt;/a&gt;&lt;/p&gt;</description></item>
<item><title>New</title><link>https://example.org/new</link>
<pubDate>Tue, 02 Aug 2022 08:00:00 GMT</pubDate><description>Body</description></item>
</channel></rss>"#;

    #[test]
    fn entries_come_newest_first_with_absolute_links() {
        let feed = parse(RSS.as_bytes(), None).expect("feed");
        let titles: Vec<_> = feed.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["New", "Old"]);
        assert_eq!(feed.entries[1].id, "old-1");
        assert_eq!(
            feed.entries[1].link.as_deref(),
            Some("https://example.org/old")
        );
        assert!(
            feed.entries[1]
                .markdown
                .contains("[x](https://example.org/x)")
        );
    }

    #[test]
    fn an_entry_without_an_id_gets_the_same_one_every_time() {
        let a = parse(RSS.as_bytes(), None).expect("feed");
        let b = parse(RSS.as_bytes(), None).expect("feed");
        assert!(!a.entries[0].id.is_empty());
        assert_eq!(a.entries[0].id, b.entries[0].id);
    }

    #[test]
    fn entries_with_nothing_to_name_them_by_are_told_apart_by_their_text() {
        let rss = |second: &str| {
            format!(
                r#"<rss version="2.0"><channel><title>S</title>
<item><description>First note</description></item>
<item><description>{second}</description></item></channel></rss>"#
            )
        };
        let a = parse(rss("Second note").as_bytes(), None).expect("feed");
        assert_eq!(a.entries.len(), 2, "{:?}", a.entries);
        assert_ne!(a.entries[0].id, a.entries[1].id);
        let b = parse(rss("Second note").as_bytes(), None).expect("feed");
        assert_eq!(a.entries[1].id, b.entries[1].id);
        let c = parse(rss("Another").as_bytes(), None).expect("feed");
        assert_eq!(a.entries[0].id, c.entries[0].id);
        assert_ne!(a.entries[1].id, c.entries[1].id);
    }

    #[test]
    fn a_private_feeds_token_is_no_base_for_links() {
        let rss = r#"<rss version="2.0"><channel><title>S</title>
<item><guid>1</guid><title>T</title><link>/post</link></item></channel></rss>"#;
        let url = Url::parse("https://ann:pw@example.org/feed.xml?token=s3cret#x").expect("url");
        let feed = parse(rss.as_bytes(), Some(&url)).expect("feed");
        assert_eq!(
            feed.entries[0].link.as_deref(),
            Some("https://example.org/post")
        );
    }

    #[test]
    fn html_titles_are_plain_text_and_text_content_is_not_read_as_html() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>S</title><id>s</id><updated>2026-01-01T00:00:00Z</updated>
<entry><id>1</id><updated>2026-01-01T00:00:00Z</updated>
<title type="html">&lt;b&gt;Bold&lt;/b&gt; &amp;amp; *stars*</title>
<content type="text">a &lt;b&gt; tag and *stars*</content></entry></feed>"#;
        let feed = parse(atom.as_bytes(), None).expect("feed");
        let e = &feed.entries[0];
        assert_eq!(e.title, "Bold & *stars*");
        assert!(e.markdown.contains("\\<b>"), "{}", e.markdown);
    }

    #[test]
    fn broken_xml_names_its_line() {
        let broken = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\">\n<channel>\n<item><title>x</titel>\n</item></channel></rss>";
        let e = parse(broken.as_bytes(), None).expect_err("broken");
        assert_eq!(e.line, Some(4), "{e:?}");
    }

    #[test]
    fn broken_json_names_its_line() {
        let e = parse(
            b"{\n\"version\": \"https://jsonfeed.org/version/1.1\",\n\"items\": [,]\n}",
            None,
        )
        .expect_err("broken");
        assert_eq!(e.line, Some(3), "{e:?}");
    }
}
