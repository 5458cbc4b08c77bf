//! Issue formats and images: a text-only issue end to end (one
//! `text/plain` part with the footer and one-click headers, DKIM verified
//! by dkimpy, scored clean by SpamAssassin, delivered by a real Postfix,
//! and its archive page); local images published under their digest and
//! referenced absolutely with their sizes, images that could not load
//! refused at their line, and the masthead logo carried inline, as
//! headless Chromium shows it.

use sha2::Digest as _;

use crate::bounces::{files_in, to_postfix};
use crate::compliance::{dkim_key, dkim_verify};
use crate::content::score;
use crate::servers::{Postfix, SmtpSink};
use crate::util::{Project, inspect_eml, paths_in, python_json, repo_root};

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
            body.lines()
                .all(|l| l.chars().count() <= 72 || !l.contains(' ')),
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
    assert!(
        page.contains("US &amp; Japan discuss supply chains"),
        "{page}"
    );
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

const ARCHIVE: &str = "https://alliance-digest.example.org/archive";

/// The test's images (tests/fixtures/images) copied beside the issue.
fn with_images(p: &Project) {
    for name in ["ferry.jpg", "harbour.png", "logo.png"] {
        let bytes =
            std::fs::read(repo_root().join("tests/fixtures/images").join(name)).expect("fixture");
        p.write(&format!("issues/{name}"), bytes);
    }
}

/// `[archive]` at ARCHIVE.
fn with_archive(p: &Project) {
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"{ARCHIVE}\"\n"),
    );
}

/// The sample issue with `markdown` opening its first story's body.
fn first_body_opens_with(p: &Project, markdown: &str) {
    p.edit(
        ISSUE,
        "body = \"\"\"\nSecretary of State Blinken",
        &format!("body = \"\"\"\n{markdown}\n\nSecretary of State Blinken"),
    );
}

/// The issue file's line that holds `text`.
fn line_of(p: &Project, text: &str) -> usize {
    p.read(ISSUE)
        .lines()
        .position(|l| l.contains(text))
        .expect("the text is in the issue")
        + 1
}

/// `<digest>.<ext>` as bulletin names a published image.
fn published_name(bytes: &[u8], ext: &str) -> String {
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{ext}")
}

#[test]
fn local_images_are_published_under_their_digest_and_shown_at_their_size() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    with_images(&p);
    with_archive(&p);
    first_body_opens_with(
        &p,
        "![A ferry at the pier](ferry.jpg)\n\n![The harbour at dawn](harbour.png)\n\n![](harbour.png \"decorative\")",
    );
    p.send(&[]).success().stdout_has("sent:         4");

    let jpg = std::fs::read(p.path("issues/ferry.jpg")).expect("jpg");
    let png = std::fs::read(p.path("issues/harbour.png")).expect("png");
    let (jpg_name, png_name) = (published_name(&jpg, "jpg"), published_name(&png, "png"));
    // The archive holds each file under its digest, byte for byte.
    assert_eq!(
        std::fs::read(p.path(&format!("archive/media/{jpg_name}"))).expect("jpg published"),
        jpg
    );
    assert_eq!(
        std::fs::read(p.path(&format!("archive/media/{png_name}"))).expect("png published"),
        png
    );
    // And the archive page shows them from there.
    let page = p.read("archive/2022-08-01/index.html");
    assert!(
        page.contains(&format!("{ARCHIVE}/media/{jpg_name}")),
        "{page}"
    );

    let received = crate::util::files_under(&sink.dump_dir());
    assert_eq!(received.len(), 4);
    for m in inspect_eml(&received) {
        // Referenced, never attached: the two parts alone.
        assert_eq!(
            m["part_types"],
            serde_json::json!(["text/plain", "text/html"]),
            "{m}"
        );
        let html = m["bodies"][1].as_str().expect("html");
        assert!(
            html.contains(&format!(
                "<img src=\"{ARCHIVE}/media/{jpg_name}\" alt=\"A ferry at the pier\" width=\"320\" height=\"180\""
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "<img src=\"{ARCHIVE}/media/{png_name}\" alt=\"The harbour at dawn\" width=\"240\" height=\"160\""
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "<img src=\"{ARCHIVE}/media/{png_name}\" alt=\"\" width"
            )),
            "the decorative one: {html}"
        );
        assert!(html.contains("max-width: 100%"), "{html}");
        let text = m["bodies"][0].as_str().expect("text");
        assert!(text.contains("[Image: A ferry at the pier]"), "{text}");
        assert!(text.contains("[Image: The harbour at dawn]"), "{text}");
        assert_eq!(text.matches("[Image:").count(), 2, "{text}");
    }
}

#[test]
fn images_that_would_not_load_everywhere_are_refused_at_their_line() {
    let p = Project::sample();
    with_images(&p);
    let check = |p: &Project| p.bulletin(&["check", "--issue", ISSUE]);
    // No alt text.
    first_body_opens_with(&p, "![](https://example.org/a.png)");
    let line = line_of(&p, "![](https://example.org/a.png)");
    check(&p)
        .failure()
        .stderr_has(&format!("{ISSUE}:{line}: `body`: an image needs alt text"));
    // Plain http.
    p.edit(
        ISSUE,
        "![](https://example.org/a.png)",
        "![A](http://example.org/a.png)",
    );
    check(&p).failure().stderr_has(&format!(
        "{ISSUE}:{line}: `body`: image target \"http://example.org/a.png\" uses http:"
    ));
    // A file that is not there.
    p.edit(ISSUE, "![A](http://example.org/a.png)", "![A](gone.png)");
    check(&p)
        .failure()
        .stderr_has(&format!("{ISSUE}:{line}: image \"gone.png\":"))
        .stderr_has("cannot be read");
    // A local file, but no archive to publish it from.
    p.edit(ISSUE, "![A](gone.png)", "![A ferry](ferry.jpg)");
    check(&p)
        .failure()
        .stderr_has(&format!(
            "{ISSUE}:{line}: image \"ferry.jpg\" is a file here"
        ))
        .stderr_has("add an [archive]");
    p.dry_run("preview").failure();
    assert!(!p.path("preview").exists() && !p.path("archive").exists());
    // As a text issue it needs none: the image is its alt text.
    let html_issue = p.read(ISSUE);
    p.write(ISSUE, format!("format = \"text\"\n{html_issue}"));
    check(&p).success();
    p.dry_run("preview").success();
    let text = p.read("preview/preview.txt");
    assert!(text.contains("[Image: A ferry]"), "{text}");
    p.write(ISSUE, html_issue);
    with_archive(&p);
    check(&p).success();
    // A local image in the footer, which has no issue to publish it with.
    p.edit(
        "config.toml",
        "about = \"\"\"\n",
        "about = \"\"\"\n![Seal](seal.png)\n\n",
    );
    check(&p)
        .failure()
        .stderr_has("`about`: image \"seal.png\" is a local file");
}

#[test]
fn the_logo_travels_inline_and_chromium_shows_it_from_the_message() {
    let p = Project::sample();
    with_images(&p);
    p.edit(
        "config.toml",
        "[newsletter]\n",
        "[newsletter]\nlogo = \"issues/logo.png\"\n",
    );
    p.dry_run("preview").success();
    let emls = paths_in(&p.path("preview"), "eml");
    let m = &inspect_eml(&emls[..1])[0];
    assert_eq!(
        m["part_types"],
        serde_json::json!(["text/plain", "text/html", "image/png"]),
        "{m}"
    );
    assert_eq!(m["content_ids"][2], "<logo@bulletin.invalid>");
    let html = m["bodies"][1].as_str().expect("html");
    assert!(
        html.contains(
            "src=\"cid:logo@bulletin.invalid\" alt=\"US-Japan Alliance Digest\" width=\"180\" height=\"48\""
        ),
        "{html}"
    );
    // Opened in Chromium with nothing but the message (no network): the
    // logo decodes at its size.
    let shown = python_json("show_eml.py", &emls[..1]);
    let logo = &shown[0][0];
    assert_eq!(logo["alt"], "US-Japan Alliance Digest", "{shown:?}");
    assert_eq!(
        (logo["width"].as_u64(), logo["height"].as_u64()),
        (Some(180), Some(48))
    );
    // Too heavy for every message: refused at its line.
    p.edit(
        "config.toml",
        "logo = \"issues/logo.png\"",
        "logo = \"issues/harbour.png\"",
    );
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("config.toml:")
        .stderr_has("may be at most 20 KB");
}
