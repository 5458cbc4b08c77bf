//! Snapshots of the sample issue as rendered: HTML, text and the whole
//! message for one reader, with the date and ids pinned.

use std::time::{Duration, UNIX_EPOCH};

use bulletin::config::Config;
use bulletin::content::Issue;
use bulletin::domain::Line;
use bulletin::message::{Recipient, Template};
use bulletin::render;
use bulletin::subscribers::Email;

use crate::util::{PINNED_EPOCH, repo_root};

fn sample() -> (Config, Issue, render::Rendered) {
    let root = repo_root();
    let config = Config::load(&root.join("config.toml")).expect("config");
    let issue = Issue::load(&root.join("issues/2022-08-01.toml")).expect("issue");
    let parts = render::render(&config.newsletter, &issue).expect("render");
    (config, issue, parts)
}

#[test]
fn sample_issue_html() {
    let (_, _, parts) = sample();
    // One element a line, so a change shows as a readable diff.
    insta::assert_snapshot!("sample_html", parts.html.replace("><", ">\n<"));
}

#[test]
fn sample_issue_text() {
    let (_, _, parts) = sample();
    insta::assert_snapshot!("sample_text", parts.text);
}

#[test]
fn sample_issue_eml_for_a_reader_with_a_non_ascii_name() {
    let (config, issue, parts) = sample();
    let email = Email::parse("zoe@example.org").expect("email");
    let name = Line::parse("Zoë Ōtsuka-Brontë").expect("name");
    let date = UNIX_EPOCH + Duration::from_secs(PINNED_EPOCH.parse().expect("epoch"));
    let to = Recipient {
        email: &email,
        name: Some(&name),
    };
    let eml = Template::new(&config.newsletter, &issue.id, &parts)
        .build(to, date)
        .expect("build")
        .formatted();
    let eml = String::from_utf8(eml).expect("7-bit");
    insta::assert_snapshot!("sample_eml", eml.replace("\r\n", "\n"));
}
