//! The web archive's files: an index of the published issues, newest
//! first, a page an issue, and an Atom feed, all in the one look
//! (`look::page`). An issue's page and its feed entry show its content
//! only (`render::fragment`): no mail furniture, no footer. Pure: the
//! same issues and send times give the same bytes (never the clock), so
//! the folder can live in git or be synced file by file.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use maud::{Markup, PreEscaped, html};

use crate::compose::look::{self, Ways};
use crate::compose::render;
use crate::input::config::{Archive, Newsletter};
use crate::input::issue::{Issue, IssueDate};
use crate::input::lang::Lang;
use crate::input::words::serve::Say;

/// What every page of the site carries in its `<head>`: how `archive`
/// knows a page it may take down as its own (never an editor's page).
pub const MARK: &str = "<meta name=\"generator\" content=\"bulletin\">";

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

/// An issue to publish, and when it was first sent (its delivery log's
/// first `sent` row), if it was.
#[derive(Debug, Clone)]
pub struct Published {
    pub issue: Issue,
    pub sent: Option<SystemTime>,
}

impl Published {
    /// When the issue came out: its first send; for one published without
    /// a send, noon UTC of its date (the same calendar day from UTC−11 to
    /// UTC+11, where midnight is the evening before in the Americas).
    fn time(&self) -> SystemTime {
        self.sent.unwrap_or_else(|| match self.issue.date {
            Some(d) => noon(d),
            None => UNIX_EPOCH,
        })
    }

    /// The day shown beside it: its date, else the day it was sent.
    fn day(&self) -> IssueDate {
        self.issue.date.unwrap_or_else(|| day_of(self.time()))
    }
}

/// Every file of the site for `issues` (any order); `signup` is the
/// sign-up page, when `serve` runs.
pub fn build(
    newsletter: &Newsletter,
    archive: &Archive,
    issues: &[Published],
    signup: Option<&str>,
) -> Vec<File> {
    let mut issues: Vec<&Published> = issues.iter().collect();
    // Newest first: by the issue's day, then by when it went out.
    issues.sort_by(|a, b| {
        (b.day(), b.time())
            .cmp(&(a.day(), a.time()))
            .then_with(|| b.issue.id.cmp(&a.issue.id))
    });
    let site = Site {
        newsletter,
        archive,
        feed: format!("{}/{FEED}", archive.url),
        index: format!("{}/", archive.url),
        lang: None,
        signup,
    };
    // A language's pages name its own index and feed (whose id is its
    // index's address, its own).
    let in_lang = |lang: &Lang| Site {
        feed: format!("{}/{lang}/{FEED}", archive.url),
        index: format!("{}/{lang}/", archive.url),
        lang: Some(lang.clone()),
        ..site.clone()
    };
    // Every language an issue is translated into.
    let langs: BTreeSet<Lang> = issues
        .iter()
        .flat_map(|p| p.issue.translations.iter().map(|t| t.lang.clone()))
        .collect();
    // The index in each language, each naming the others.
    let indexes: Vec<(String, String)> =
        std::iter::once((newsletter.lang.to_string(), site.index.clone()))
            .chain(
                langs
                    .iter()
                    .map(|l| (l.to_string(), format!("{}/{l}/", archive.url))),
            )
            .collect();
    let indexes = if indexes.len() > 1 {
        indexes
    } else {
        Vec::new()
    };
    let mut files: Vec<File> = Vec::new();
    // Each issue's page, and one a translation (`<id>/<lang>/`), each
    // naming the others (`hreflang`).
    for p in &issues {
        let alternates = site.alternates(&p.issue);
        files.push(File {
            path: format!("{}/index.html", p.issue.id),
            bytes: site.page(p, &alternates).into_string().into_bytes(),
        });
        for t in &p.issue.translations {
            let translated = Published {
                issue: for_nobody(newsletter, p.issue.translated(t)),
                sent: p.sent,
            };
            files.push(File {
                path: format!("{}/{}/index.html", p.issue.id, t.lang),
                bytes: in_lang(&t.lang)
                    .page(&translated, &alternates)
                    .into_string()
                    .into_bytes(),
            });
        }
    }
    // A feed and an index a language: its issues in it, at
    // `<lang>/feed.xml` and `<lang>/`.
    for lang in &langs {
        let translated: Vec<Published> = issues
            .iter()
            .filter_map(|p| {
                let t = p.issue.translations.iter().find(|t| &t.lang == lang)?;
                Some(Published {
                    issue: for_nobody(newsletter, p.issue.translated(t)),
                    sent: p.sent,
                })
            })
            .collect();
        let translated: Vec<&Published> = translated.iter().collect();
        files.push(File {
            path: format!("{lang}/{FEED}"),
            bytes: in_lang(lang).feed(&translated).into_bytes(),
        });
        files.push(File {
            path: format!("{lang}/index.html"),
            bytes: in_lang(lang)
                .index(&translated, &indexes)
                .into_string()
                .into_bytes(),
        });
    }
    files.push(File {
        path: "index.html".into(),
        bytes: site.index(&issues, &indexes).into_string().into_bytes(),
    });
    files.push(File {
        path: FEED.into(),
        bytes: site.feed(&issues).into_bytes(),
    });
    files
}

#[derive(Clone)]
struct Site<'a> {
    newsletter: &'a Newsletter,
    archive: &'a Archive,
    feed: String,
    /// The index's address, also its feed's Atom id.
    index: String,
    /// The language of the index and feed (`None`: the newsletter's).
    lang: Option<Lang>,
    signup: Option<&'a str>,
}

impl Site<'_> {
    fn title(&self) -> String {
        self.archive
            .title
            .clone()
            .unwrap_or_else(|| self.newsletter.name.to_string())
    }

    /// What the feed and the index say the newsletter is: the archive's
    /// `description`, else the newsletter's `about` as plain text.
    fn about(&self) -> Option<String> {
        self.archive.description.clone().or_else(|| {
            self.newsletter
                .about
                .as_ref()
                .map(crate::input::markdown::Markdown::plain_words)
        })
    }

    /// An issue's page in each of its languages, by tag; empty for one
    /// without translations.
    fn alternates(&self, issue: &Issue) -> Vec<(String, String)> {
        if issue.translations.is_empty() {
            return Vec::new();
        }
        std::iter::once((
            self.newsletter.lang.to_string(),
            self.archive.page_url(&issue.id),
        ))
        .chain(issue.translations.iter().map(|t| {
            (
                t.lang.to_string(),
                self.archive.page_url_in(&issue.id, Some(&t.lang)),
            )
        }))
        .collect()
    }

    fn page(&self, p: &Published, alternates: &[(String, String)]) -> Markup {
        let issue = &p.issue;
        let title = issue.title(self.newsletter);
        let url = self.archive.page_url_in(&issue.id, issue.lang.as_ref());
        let lang = issue.lang_in(self.newsletter);
        let words = self.newsletter.words(lang);
        let mut head = web_head(&WebHead {
            kind: "article",
            title: &title,
            description: &issue.preheader(),
            url: &url,
            feed: &self.feed,
            feed_title: self.newsletter.name.as_str(),
            site_name: Some(self.newsletter.name.as_str()),
        });
        if !alternates.is_empty() {
            head = html! {
                (head)
                @for (tag, href) in alternates {
                    link rel="alternate" hreflang=(tag) href=(href);
                }
                link rel="alternate" hreflang="x-default" href=(self.archive.page_url(&issue.id));
            };
        }
        look::page(
            &look::Page {
                newsletter: self.newsletter.name.as_str(),
                title: &title,
                head,
                index: true,
                ways: Ways {
                    signup: self.signup,
                    archive: Some(&self.index),
                },
                lang: lang.as_str(),
                words: &words,
            },
            html! {
                p class="dateline" {
                    time datetime=(iso_day(p.day())) { (words.date(p.day())) }
                    @if let (Some(n), crate::input::issue::Layout::Digest) = (issue.number, issue.layout) {
                        " · " (words.numbered(n))
                    }
                }
                article { (render::page_fragment(self.newsletter, issue)) }
            },
        )
    }

    /// The index of `issues`, in this site's language, naming the index
    /// in each language (`indexes`, by tag; empty with one language).
    fn index(&self, issues: &[&Published], indexes: &[(String, String)]) -> Markup {
        let title = self.title();
        let lang = self.lang.as_ref().unwrap_or(&self.newsletter.lang);
        let words = self.newsletter.words(lang);
        let about = || words.say_with(Say::IndexAbout, &[("name", self.newsletter.name.as_str())]);
        // The editor's own description is in the newsletter's language.
        let description = match &self.lang {
            None => self.about().unwrap_or_else(about),
            Some(_) => about(),
        };
        let mut head = web_head(&WebHead {
            kind: "website",
            title: &title,
            description: &description,
            url: &self.index,
            feed: &self.feed,
            feed_title: &title,
            site_name: None,
        });
        if !indexes.is_empty() {
            head = html! {
                (head)
                @for (tag, href) in indexes {
                    link rel="alternate" hreflang=(tag) href=(href);
                }
                link rel="alternate" hreflang="x-default" href=(indexes[0].1);
            };
        }
        look::page(
            &look::Page {
                newsletter: self.newsletter.name.as_str(),
                title: &title,
                head,
                index: true,
                ways: Ways {
                    signup: self.signup,
                    archive: None,
                },
                lang: lang.as_str(),
                words: &words,
            },
            html! {
                p class="lede" {
                    (description) " "
                    @if let Some(signup) = self.signup {
                        a href=(signup) { (words.say(Say::WaysSubscribe)) } " · "
                    }
                    a href=(self.feed) { (words.say(Say::IndexFeed)) }
                }
                ol class="issues" {
                    @for p in issues {
                        li {
                            p class="date" { time datetime=(iso_day(p.day())) { (words.date(p.day())) } }
                            h2 { a href=(self.archive.page_url_in(&p.issue.id, self.lang.as_ref())) { (p.issue.title(self.newsletter)) } }
                            p class="preheader" { (p.issue.preheader()) }
                        }
                    }
                }
            },
        )
    }

    fn feed(&self, issues: &[&Published]) -> String {
        let mut feed = Feed::default();
        feed.set_id(self.index.clone());
        feed.set_title(self.title());
        if let Some(about) = self.about() {
            feed.set_subtitle(Some(Text::plain(about)));
        }
        feed.set_links(vec![
            link(self.feed.clone(), "self", "application/atom+xml"),
            link(self.index.clone(), "alternate", "text/html"),
        ]);
        let mut author = Person::default();
        author.set_name(
            self.newsletter
                .from
                .name
                .clone()
                .unwrap_or_else(|| self.newsletter.name.to_string()),
        );
        author.set_email(Some(self.newsletter.from.email.to_string()));
        feed.set_authors(vec![author.clone()]);
        // The latest entry's time (an older issue may go out later): the
        // same files for the same issues and logs.
        feed.set_updated(
            issues
                .iter()
                .map(|p| p.time())
                .max()
                .map(fixed)
                .unwrap_or_default(),
        );
        let entries: Vec<Entry> = issues
            .iter()
            .take(FEED_ENTRIES)
            .map(|p| {
                let page = self.archive.page_url_in(&p.issue.id, p.issue.lang.as_ref());
                let mut entry = Entry::default();
                entry.set_id(page.clone());
                entry.set_title(p.issue.title(self.newsletter));
                entry.set_published(Some(fixed(p.time())));
                entry.set_updated(fixed(p.time()));
                entry.set_authors(vec![author.clone()]);
                entry.set_links(vec![link(page, "alternate", "text/html")]);
                entry.set_summary(Some(Text::plain(p.issue.preheader())));
                let mut content = Content::default();
                content.set_content_type(Some("html".to_owned()));
                content.set_value(Some(
                    render::page_fragment(self.newsletter, &p.issue).into_string(),
                ));
                entry.set_content(Some(content));
                entry
            })
            .collect();
        feed.set_entries(entries);
        let mut xml = feed.to_string();
        xml.push('\n');
        xml
    }
}

/// A translation as a page for nobody in particular shows it: each field
/// its default, or nothing (`personal::for_nobody`, as the issue itself
/// was made before it got here).
fn for_nobody(newsletter: &Newsletter, issue: Issue) -> Issue {
    match crate::compose::personal::for_nobody(newsletter, &issue) {
        Ok((_, filled)) => filled,
        // Its fields were checked when it was read; were one not to fill,
        // its marks would show, so its texts are left out instead.
        Err(_) => Issue {
            intro: None,
            ..issue
        },
    }
}

/// What a page on the web says of itself in its head.
struct WebHead<'a> {
    /// Open Graph's type: `article` for an issue, `website` for the index.
    kind: &'a str,
    title: &'a str,
    description: &'a str,
    /// The page's own (canonical) URL.
    url: &'a str,
    feed: &'a str,
    feed_title: &'a str,
    site_name: Option<&'a str>,
}

/// The head's links and Open Graph tags of an archive page: its canonical
/// URL, the feed a browser or reader can discover, and what a link
/// preview shows.
fn web_head(h: &WebHead<'_>) -> Markup {
    html! {
        (PreEscaped(MARK))
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

fn iso_day(d: IssueDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn noon(d: IssueDate) -> SystemTime {
    humantime::parse_rfc3339(&format!("{}T12:00:00Z", iso_day(d))).unwrap_or(UNIX_EPOCH)
}

/// The UTC calendar day of `t`.
fn day_of(t: SystemTime) -> IssueDate {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<u16>().ok());
    let small = |v: Option<u16>| v.and_then(|v| u8::try_from(v).ok()).unwrap_or(1);
    IssueDate {
        year: n(0..4).unwrap_or(1970),
        month: small(n(5..7)),
        day: small(n(8..10)),
    }
}

fn fixed(t: SystemTime) -> FixedDateTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let s = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.as_secs()));
    FixedDateTime::parse_from_rfc3339(&s.to_string()).unwrap_or_default()
}

fn link(href: String, rel: &str, mime: &str) -> Link {
    let mut link = Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link.set_mime_type(Some(mime.to_owned()));
    link
}
