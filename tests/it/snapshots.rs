//! Snapshots of the sample issue as rendered: HTML, text and the whole
//! message for one reader, with the date and ids pinned.

use std::time::{Duration, UNIX_EPOCH};

use bulletin::audience::unsubscribe::Unsubscriber;
use bulletin::compose::message::{Recipient, Template};
use bulletin::compose::render;
use bulletin::input::checked::Line;
use bulletin::input::config::Config;
use bulletin::input::email::Email;
use bulletin::input::issue::Issue;
use secrecy::SecretString;

use crate::util::{PINNED_EPOCH, repo_root};

fn sample() -> (Config, Issue, render::Rendered) {
    let root = repo_root();
    let config = Config::load(&root.join("config.toml")).expect("config");
    let issue = Issue::load(&root.join("issues/2022-08-01.toml")).expect("issue");
    let parts = render::render(&config.newsletter, &issue, true).expect("render");
    (config, issue, parts)
}

/// Unsubscribe links made with a fixed test secret.
fn unsubscriber(config: &Config) -> Unsubscriber {
    let u = config
        .unsubscribe
        .as_ref()
        .expect("[unsubscribe] in the sample");
    let secret = SecretString::from("snapshot-secret".to_owned());
    Unsubscriber::new(u, config.newsletter.list_id.as_str(), Some(secret))
}

fn zoe() -> Email {
    Email::parse("zoe@example.org").expect("email")
}

#[test]
fn sample_issue_html() {
    let (config, _, parts) = sample();
    let html = parts.html_for(&unsubscriber(&config).url(&zoe()));
    // One element a line, so a change shows as a readable diff.
    insta::assert_snapshot!("sample_html", html.replace("><", ">\n<"));
}

#[test]
fn sample_issue_text() {
    let (config, _, parts) = sample();
    insta::assert_snapshot!(
        "sample_text",
        parts.text_for(&unsubscriber(&config).url(&zoe()))
    );
}

#[test]
fn sample_issue_eml_for_a_reader_with_a_non_ascii_name() {
    let (config, issue, parts) = sample();
    let email = zoe();
    let name = Line::parse("Zoë Ōtsuka-Brontë").expect("name");
    let date = UNIX_EPOCH + Duration::from_secs(PINNED_EPOCH.parse().expect("epoch"));
    let to = Recipient {
        email: &email,
        name: Some(&name),
        row: None,
    };
    let unsub = Some(unsubscriber(&config));
    let eml = Template::new(&config.newsletter, &issue.id, &parts, unsub, None)
        .build(to, date)
        .expect("build");
    let eml = String::from_utf8(eml).expect("7-bit");
    insta::assert_snapshot!("sample_eml", eml.replace("\r\n", "\n"));
}
