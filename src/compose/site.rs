//! The web archive's files: an index of the published issues, newest
//! first, and an Atom feed with each issue's full content; each issue's
//! page is the email's own template (`render::Place::Web`). Pure: the same
//! issues give the same bytes (dates come from the issues, never the
//! clock), so the folder can live in git or be synced file by file.

use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use maud::{DOCTYPE, PreEscaped, html};

use crate::compose::render::{self, Place, RenderError, WebHead};
use crate::input::config::{Archive, Newsletter};
use crate::input::issue::Issue;

/// The feed's file name, under the site's root.
pub const FEED: &str = "feed.xml";

/// At most this many issues in the feed (the index lists them all).
pub const FEED_ENTRIES: usize = 50;

/// One file of the site: its path under the site's root, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Every file of the site for `issues` (published ones, any order).
pub fn build(
    newsletter: &Newsletter,
    archive: &Archive,
    issues: &[Issue],
    signup: Option<&str>,
) -> Result<Vec<File>, RenderError> {
    let mut issues: Vec<&Issue> = issues.iter().collect();
    issues.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.id.cmp(&a.id)));
    let feed_url = format!("{}/{FEED}", archive.url);
    let mut files = Vec::new();
    let mut pages = Vec::new();
    for issue in &issues {
        let page = archive.page_url(&issue.id);
        let rendered = render::render_for(
            newsletter,
            issue,
            Place::Web {
                page: &page,
                feed: &feed_url,
                signup,
            },
        )?;
        let html = rendered.html.with("");
        files.push(File {
            path: format!("{}/index.html", issue.id),
            bytes: html.clone().into_bytes(),
        });
        pages.push((*issue, page, html));
    }
    files.push(File {
        path: "index.html".into(),
        bytes: index(newsletter, archive, &pages, &feed_url).into_bytes(),
    });
    files.push(File {
        path: FEED.into(),
        bytes: feed(newsletter, archive, &pages, &feed_url).into_bytes(),
    });
    Ok(files)
}

fn title(newsletter: &Newsletter, archive: &Archive) -> String {
    archive
        .title
        .clone()
        .unwrap_or_else(|| newsletter.name.to_string())
}

const STYLE: &str = concat!(
    "*,*::before,*::after{box-sizing:border-box}",
    "body{font-family:Georgia,'Times New Roman',serif;max-width:40em;margin:0 auto;padding:1em;",
    "line-height:1.5;color:#1d1d1b;background:#f2f2ef;overflow-wrap:anywhere}",
    "main{background:#fff;padding:1em 1.25em 1.5em;border-top:4px solid #1d3557}",
    "h1{color:#1d3557;font-size:1.8em;line-height:1.2;margin:.2em 0 .3em}",
    ".lede{color:#5b5b57;margin:0 0 1em}",
    "ol{list-style:none;padding:0;margin:0}",
    "li{border-top:1px solid #dcdcd6;padding:.8em 0}",
    "li h2{font-size:1.15em;line-height:1.3;margin:.1em 0 .2em}",
    "a{color:#1d4e89}",
    ".date{font-size:.85em;letter-spacing:.06em;text-transform:uppercase;color:#a4161a}",
    ".preheader{margin:.2em 0 0;color:#5b5b57}",
    ":focus-visible{outline:3px solid #a4161a;outline-offset:2px}",
    "@media (prefers-color-scheme:dark){body{background:#121212;color:#e6e6e3}",
    "main{background:#1e1e1e}h1{color:#9cc3f0}a{color:#8ab4f8}.lede,.preheader{color:#b8b8b2}}",
);

fn index(
    newsletter: &Newsletter,
    archive: &Archive,
    pages: &[(&Issue, String, String)],
    feed_url: &str,
) -> String {
    let title = title(newsletter, archive);
    let description = archive
        .description
        .clone()
        .unwrap_or_else(|| format!("Every issue of {} so far.", newsletter.name));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                (render::web_head(&WebHead {
                    kind: "website",
                    title: &title,
                    description: &description,
                    url: &format!("{}/", archive.url),
                    feed: feed_url,
                    feed_title: &title,
                    site_name: None,
                }))
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { (title) }
                    p class="lede" {
                        (description) " "
                        a href=(feed_url) { "Follow the feed" } "."
                    }
                    ol {
                        @for (issue, page, _) in pages {
                            li {
                                p class="date" { time datetime=(iso_date(issue)) { (issue.date) } }
                                h2 { a href=(page) { (issue.subject(newsletter)) } }
                                p class="preheader" { (issue.preheader()) }
                            }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

fn iso_date(issue: &Issue) -> String {
    issue.date.rfc3339()[..10].to_owned()
}

fn date(issue: &Issue) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&issue.date.rfc3339()).unwrap_or_default()
}

fn link(href: String, rel: &str, mime: &str) -> Link {
    let mut link = Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link.set_mime_type(Some(mime.to_owned()));
    link
}

fn feed(
    newsletter: &Newsletter,
    archive: &Archive,
    pages: &[(&Issue, String, String)],
    feed_url: &str,
) -> String {
    let mut feed = Feed::default();
    feed.set_id(format!("{}/", archive.url));
    feed.set_title(title(newsletter, archive));
    if let Some(description) = &archive.description {
        feed.set_subtitle(Some(Text::plain(description.clone())));
    }
    feed.set_links(vec![
        link(feed_url.to_owned(), "self", "application/atom+xml"),
        link(format!("{}/", archive.url), "alternate", "text/html"),
    ]);
    let mut author = Person::default();
    author.set_name(
        newsletter
            .from
            .name
            .clone()
            .unwrap_or_else(|| newsletter.name.to_string()),
    );
    feed.set_authors(vec![author]);
    // The newest issue's date: the same files for the same issues.
    feed.set_updated(
        pages
            .first()
            .map(|(issue, _, _)| date(issue))
            .unwrap_or_default(),
    );
    let entries: Vec<Entry> = pages
        .iter()
        .take(FEED_ENTRIES)
        .map(|(issue, page, html)| {
            let mut entry = Entry::default();
            entry.set_id(page.clone());
            entry.set_title(issue.subject(newsletter));
            entry.set_published(Some(date(issue)));
            entry.set_updated(date(issue));
            entry.set_links(vec![link(page.clone(), "alternate", "text/html")]);
            entry.set_summary(Some(Text::plain(issue.preheader())));
            let mut content = Content::default();
            content.set_content_type(Some("html".to_owned()));
            content.set_value(Some(html.clone()));
            entry.set_content(Some(content));
            entry
        })
        .collect();
    feed.set_entries(entries);
    let mut xml = feed.to_string();
    xml.push('\n');
    xml
}
