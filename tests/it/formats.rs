//! Issue formats: a text-only issue end to end — one `text/plain` part
//! with the footer and one-click headers, DKIM verified by dkimpy, scored
//! clean by SpamAssassin, delivered by a real Postfix, and its archive page.

use crate::bounces::{files_in, to_postfix};
use crate::compliance::{dkim_key, dkim_verify};
use crate::content::score;
use crate::servers::Postfix;
use crate::util::{Project, inspect_eml};

const ISSUE: &str = "issues/2022-08-01.toml";

/// The sample as a text-only issue, one story with links, an archive.
fn text_issue(p: &Project) {
    let issue = p.read(ISSUE).replacen(
        "headline = \"US & Japan discuss",
        "link = \"https://www.state.gov/epcc\"\nheadline = \"US & Japan discuss",
        1,
    );
    p.write(ISSUE, format!("format = \"text\"\n{issue}"));
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"https://alliance-digest.example.org/archive\"\n"),
    );
}

#[test]
fn a_text_issue_goes_as_one_signed_plain_part_scores_clean_and_is_archived() {
    let postfix = Postfix::start();
    let p = Project::sample();
    text_issue(&p);
    to_postfix(&p, &postfix);
    let (key, record) = dkim_key(&p.path("."), "rsa");
    p.write("record.txt", &record);
    p.with_dkim(&key);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has("text only");
    p.bulletin_with(
        &["send", "--issue", ISSUE, "--yes"],
        &[("SOURCE_DATE_EPOCH", now.as_str())],
    )
    .success()
    .stdout_has("sent:         4");
    assert_eq!(postfix.wait_for(4), 4, "not every message arrived");

    let delivered = files_in(&postfix.maildir().join("new"));
    for m in inspect_eml(&delivered) {
        assert_eq!(m["defects"], serde_json::json!([]), "{m}");
        // One part, no HTML anywhere.
        assert_eq!(m["content_type"], "text/plain", "{m}");
        assert_eq!(m["part_types"], serde_json::json!(["text/plain"]), "{m}");
        let body = m["bodies"][0].as_str().expect("body");
        assert!(!body.contains("<p>") && !body.contains("<table"), "{body}");
        // The footer: the reader's one-click link (the same URL as the
        // header's), the postal address, View in browser (an archive).
        let header = m["headers"]["List-Unsubscribe"].as_str().expect("header");
        let url = header
            .split(['<', '>'])
            .find(|s| s.starts_with("https://"))
            .expect("an https link");
        assert!(
            body.contains(&format!("Unsubscribe with one click:\n{url}")),
            "{body}"
        );
        assert_eq!(
            m["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert!(body.contains("Washington, DC 20001, USA"), "{body}");
        assert!(
            body.starts_with(
                "View in browser: https://alliance-digest.example.org/archive/2022-08-01/"
            ),
            "{body}"
        );
        // The story's link listed under it, before the next story.
        let read_more = body.find("Read more [1]").expect("read more");
        let note = body
            .find("[1] https://www.state.gov/epcc")
            .expect("its note");
        // (The headline is in the Headlines list too: the story is the last.)
        let next = body.rfind("2. Japan Science Council").expect("next story");
        assert!(read_more < note && note < next, "{body}");
        assert!(
            body.lines().all(|l| l.chars().count() <= 72 || !l.contains(' ')),
            "{body}"
        );
    }
    for v in dkim_verify(&p.path("record.txt"), &delivered) {
        assert_eq!(v["ok"], true, "{v}");
    }
    for file in &delivered {
        let (total, rules) = score(file);
        eprintln!("text issue: {total} {rules:?}");
        assert!(total <= 0.0, "scores {total}: {rules:?}");
    }

    // The archive shows it as simple HTML: its text, links made links.
    let page = p.read("archive/2022-08-01/index.html");
    assert!(page.contains("<pre class=\"text-issue\">"), "{page}");
    assert!(
        page.contains("<a href=\"https://www.state.gov/epcc\">https://www.state.gov/epcc</a>"),
        "{page}"
    );
    assert!(page.contains("US &amp; Japan discuss supply chains"), "{page}");
    assert!(!page.contains("Unsubscribe with one click"), "{page}");
}

#[test]
fn the_newsletters_format_is_the_default_and_an_issue_may_say_otherwise() {
    let p = Project::sample();
    p.edit(
        "config.toml",
        "[newsletter]\n",
        "[newsletter]\nformat = \"text\"\n",
    );
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has("text only");
    p.dry_run("preview").success();
    assert!(!p.path("preview/preview.html").exists());
    let issue = p.read(ISSUE);
    p.write(ISSUE, format!("format = \"html\"\n{issue}"));
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has("HTML ");
    // A format that is neither: an error at its line, in either file.
    p.write(ISSUE, format!("\nformat = \"pdf\"\n{issue}"));
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&format!("{ISSUE}:2: `format` is \"html\""));
    p.write(ISSUE, &issue);
    p.edit("config.toml", "format = \"text\"", "format = \"txt\"");
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("config.toml:")
        .stderr_has("not \"txt\"");
}
