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
    let html = parts
        .html_for(&unsubscriber(&config).url(&zoe()))
        .expect("an HTML issue");
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

/// The first mail a reader ever gets from us: the sign-up's confirmation,
/// branded like an issue (text and HTML parts).
#[test]
fn confirmation_mail() {
    let config = Config::load(&repo_root().join("config.toml")).expect("config");
    let parts = |lang: &str| {
        let lang = bulletin::input::lang::Lang::parse(lang).expect("tag");
        bulletin::compose::confirm::parts(
            &config.newsletter,
            &bulletin::compose::confirm::Said {
                lang: &lang,
                words: &config.newsletter.words(&lang),
            },
            "https://alliance-digest.example.org/confirm/TOKEN",
            Duration::from_secs(7 * 86_400),
        )
        .expect("parts")
    };
    let (text, html) = parts("en");
    assert!(text.contains("works for 7 days"), "{text}");
    insta::assert_snapshot!("confirmation_text", text);
    insta::assert_snapshot!("confirmation_html", html.replace("><", ">\n<"));
    // In the sign-up's language: the same mail, its words Japanese.
    let (text, html) = parts("ja");
    assert!(text.contains("リンクの有効期限は7日間です。"), "{text}");
    assert!(html.contains("<html lang=\"ja\">"), "{html}");
    assert!(html.contains(">購読を確定する</a>"), "{html}");
    assert!(!html.contains("Confirm my subscription"), "{html}");
}

/// An issue with `layout = "letter"`: no dateline, no Headlines/Details;
/// with several stories each under its headline, with one just its text.
#[test]
fn letter_layout() {
    let config = Config::load(&repo_root().join("config.toml")).expect("config");
    let dir = tempfile::tempdir().expect("dir");
    let letter = |stories: &str| -> render::Rendered {
        let path = dir.path().join("letter.toml");
        std::fs::write(
            &path,
            format!(
                "subject = \"Welcome to the Digest\"\nlayout = \"letter\"\n\
                 intro = \"Thank you for signing up.\"\n{stories}"
            ),
        )
        .expect("write");
        let issue = Issue::load(&path).expect("a letter needs no date");
        render::render(&config.newsletter, &issue, true).expect("render")
    };
    let two = letter(
        "[[story]]\nheadline = \"What to expect\"\nbody = \"A digest every other week:\\n\\n- the news\\n- the reading\\n\"\n\
         [[story]]\nheadline = \"Who we are\"\nbody = \"Two editors.\"\n",
    );
    let url = unsubscriber(&config).url(&zoe());
    let text = two.text_for(&url);
    // A tight list stays tight in the text part.
    assert!(text.contains("- the news\n- the reading"), "{text}");
    insta::assert_snapshot!("letter_text", text);
    let html = two.html_for(&url).expect("an HTML letter");
    insta::assert_snapshot!("letter_html", html.replace("><", ">\n<"));
    let one =
        letter("[[story]]\nheadline = \"What to expect\"\nbody = \"A digest every other week.\"\n");
    for part in [one.text_for(&url), one.html_for(&url).expect("HTML")] {
        assert!(!part.contains("What to expect"), "{part}");
        assert!(
            !part.contains("Headlines") && !part.contains("Details"),
            "{part}"
        );
        assert!(part.contains("A digest every other week."), "{part}");
    }
}

#[test]
fn a_text_only_issue_lists_each_storys_links_under_it() {
    let config = Config::load(&repo_root().join("config.toml")).expect("config");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("2026-12-09.toml");
    std::fs::write(
        &path,
        "format = \"text\"\ndate = 2026-12-09\n\
         intro = \"Notes from the week, [as promised](https://example.org/promise).\"\n\
         [[story]]\nheadline = \"Ferry timetable\"\n\
         body = \"The [new timetable](https://example.org/ferry) starts Monday; see the [map](https://example.org/map).\"\n\
         link = \"https://example.org/ferry/more\"\n\
         [[story]]\nheadline = \"Harbour works\"\n\
         body = \"Work resumes; the [map](https://example.org/map) again.\"\n",
    )
    .expect("write");
    let issue = Issue::load(&path).expect("issue");
    let parts = render::render(&config.newsletter, &issue, true).expect("render");
    assert!(parts.html.is_none(), "a text issue has no HTML part");
    let text = parts.text_for(&unsubscriber(&config).url(&zoe()));
    // Each story's links right under it; a link met again keeps its number.
    assert!(
        text.contains("Read more [4]\n\n[2] https://example.org/ferry\n[3] https://example.org/map\n[4] https://example.org/ferry/more"),
        "{text}"
    );
    assert!(
        text.contains("the map [3] again.\n\n[3] https://example.org/map\n\n-- "),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.chars().count() <= 72 || !l.contains(' '))
    );
    insta::assert_snapshot!("text_only_text", text);
}
