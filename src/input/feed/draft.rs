//! A draft issue from feed entries, as the text of an issue file: one
//! story per entry, the subject from `[feed] subject`, the date given.
//! Pure, so the same entries and date always give the same file.

use serde::Serialize;

use crate::input::feed::Entry;
use crate::input::feed::html::{escape_markdown, neutral_fields, neutral_line};
use crate::input::issue::IssueDate;

#[derive(Serialize)]
struct DraftIssue {
    date: toml::value::Datetime,
    subject: String,
    story: Vec<DraftStory>,
}

#[derive(Serialize)]
struct DraftStory {
    headline: String,
    body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
}

/// `template` with `{{ count }}`, `{{ first_title }}` and `{{ date }}`
/// filled in (the template's fields are checked where the config is read;
/// anything else in braces is left as written).
pub fn subject(template: &str, entries: &[Entry], date: IssueDate) -> String {
    let first = entries.first().map_or("", |e| e.title.as_str());
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        match after[..end].trim() {
            "count" => out.push_str(&entries.len().to_string()),
            "first_title" => out.push_str(first),
            "date" => out.push_str(&date.to_string()),
            _ => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    neutral_line(out.split_whitespace().collect::<Vec<_>>().join(" ").trim())
}

/// The issue file's text: a comment saying where it came from (`source`,
/// as shown to the editor), then the date, the subject and the stories in
/// the entries' order.
pub fn issue_toml(
    entries: &[Entry],
    template: &str,
    date: IssueDate,
    source: &str,
) -> Result<String, toml::ser::Error> {
    let issue = DraftIssue {
        date: toml::value::Datetime {
            date: Some(toml::value::Date {
                year: date.year,
                month: date.month,
                day: date.day,
            }),
            time: None,
            offset: None,
        },
        subject: subject(template, entries, date),
        story: entries
            .iter()
            .map(|e| DraftStory {
                headline: neutral_line(&e.title),
                body: if e.markdown.trim().is_empty() {
                    match &e.link {
                        // A link's braces (`?q={{x}}`) are the site's, not
                        // a reader's field: percent-encoded, as RFC 3986
                        // wants them anyway.
                        Some(link) => format!(
                            "[Read it on the site](<{}>)",
                            link.replace('{', "%7B").replace('}', "%7D")
                        ),
                        None => neutral_fields(&escape_markdown(&e.title)),
                    }
                } else {
                    e.markdown.clone()
                },
                link: e.link.clone(),
            })
            .collect(),
    };
    let body = toml::to_string_pretty(&issue)?;
    let source = source.replace(['\r', '\n'], " ");
    let n = entries.len();
    let entries = if n == 1 { "entry" } else { "entries" };
    Ok(format!(
        "# Drafted by `bulletin draft` from {source}: {n} {entries}.\n# Edit it, `bulletin check --issue` it, then send it.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(title: &str, markdown: &str) -> Entry {
        Entry {
            id: title.to_owned(),
            title: title.to_owned(),
            link: Some(format!("https://example.org/{title}")),
            markdown: markdown.to_owned(),
        }
    }

    const DAY: IssueDate = IssueDate {
        year: 2022,
        month: 8,
        day: 1,
    };

    #[test]
    fn braces_in_a_link_never_make_a_field() {
        let mut bare = entry("Bare", "");
        let link = "https://example.org/a_(b)?q={{name}}&r={%x%}";
        bare.link = Some(link.to_owned());
        let text = issue_toml(&[bare], "{{ first_title }}", DAY, "feed").expect("a draft");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("2022-08-01.toml");
        std::fs::write(&path, &text).expect("write");
        let issue = crate::input::issue::Issue::load(&path).expect("a valid issue");
        assert!(issue.fields.is_empty(), "{text}");
        // The reader's link is the site's, its braces percent-encoded.
        let html = issue.stories[0].body.to_html();
        let encoded = "https://example.org/a_(b)?q=%7B%7Bname%7D%7D&amp;r=%7B%x%%7D";
        assert!(html.contains(&format!("href=\"{encoded}\"")), "{html}");
    }

    #[test]
    fn the_subject_fills_in_count_first_title_and_date() {
        let entries = [entry("First", "a"), entry("Second", "b")];
        assert_eq!(
            subject(
                "{{ count }} new: {{first_title}} ({{ date }})",
                &entries,
                DAY
            ),
            "2 new: First (August 1, 2022)"
        );
    }

    #[test]
    fn the_draft_is_an_issue_that_reads_back_with_every_story() {
        let entries = [
            entry(
                "Quotes \" and \\ and \"\"\" too",
                "Line one\n\nLine \"\"\" two",
            ),
            entry("Second", ""),
        ];
        let text = issue_toml(
            &entries,
            "{{ first_title }}",
            DAY,
            "https://example.org/feed.xml",
        )
        .expect("a draft");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("2022-08-01.toml");
        std::fs::write(&path, &text).expect("write");
        let issue = crate::input::issue::Issue::load(&path).expect("a valid issue");
        assert_eq!(issue.stories.len(), 2);
        assert_eq!(
            issue.stories[0].headline.as_str(),
            "Quotes \" and \\ and \"\"\" too"
        );
        assert_eq!(
            issue.stories[1].link.as_deref(),
            Some("https://example.org/Second")
        );
        assert_eq!(issue.date, Some(DAY));
        assert!(text.starts_with(
            "# Drafted by `bulletin draft` from https://example.org/feed.xml: 2 entries."
        ));
    }
}
