//! One issue in several languages: readers with `en`, `ja-JP` and no
//! language in their row each mailed in theirs (the Japanese subject as
//! RFC 2047 and decoded by Python's `email`), a missing or extra
//! translation refused at its line, and the archive's page a language
//! with `hreflang` links and a feed a language, read by feedparser.

use crate::servers::SmtpSink;
use crate::util::{Project, files_under, inspect_eml, python_json};

pub const ISSUE: &str = "issues/2026-12-09.toml";
const LIST: &str = "subscribers.example.csv";

pub const BILINGUAL: &str = r#"date = 2026-12-09
subject = "Ferries and harbours"
intro = "Hello {{ name | default(\"reader\") }}."

[[story]]
headline = "Ferry timetable"
body = "The new timetable starts Monday."
link = "https://example.org/ferry"

[[story]]
headline = "Harbour works"
body = "Work resumes."

[lang.ja]
subject = "フェリーと港のお知らせ"
intro = "{{ name | default(\"読者\") }}さん、こんにちは。"

[[lang.ja.story]]
headline = "フェリーの時刻表"
body = "新しい時刻表は月曜日から。"

[[lang.ja.story]]
headline = "港の工事"
body = "工事が再開します。"
"#;

/// Of `messages` (as `inspect_eml` reads them), the one to `who`.
fn message_to(messages: Vec<serde_json::Value>, who: &str) -> serde_json::Value {
    messages
        .into_iter()
        .find(|m| m["headers"]["To"].as_str().is_some_and(|t| t.contains(who)))
        .expect("a message to them")
}

/// A dry-run of the issue into `preview`.
fn dry_run(p: &Project) -> crate::util::Run {
    p.bulletin(&["send", "--issue", ISSUE, "--dry-run", "--out", "preview"])
}

/// The sample project with a list in three languages (one row without
/// any) and the bilingual issue.
fn bilingual(p: &Project) {
    p.write(
        LIST,
        "email,name,lang\nann@example.org,Ann,en\nkenji@example.org,Kenji,ja-JP\nzoe@example.org,Zoe,\n",
    );
    p.write(ISSUE, BILINGUAL);
}

#[test]
fn each_reader_is_mailed_in_their_language_and_the_rest_in_the_newsletters() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    bilingual(&p);
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has("languages: en 2, ja 1");
    p.bulletin(&["send", "--issue", ISSUE, "--yes"])
        .success()
        .stdout_has("sent:         3");
    let received = files_under(&sink.dump_dir());
    assert_eq!(received.len(), 3);
    let mut seen = Vec::new();
    for m in inspect_eml(&received) {
        let to = m["headers"]["To"].as_str().expect("to").to_owned();
        let subject = m["headers"]["Subject"].as_str().expect("subject");
        let lang = m["headers"]["Content-Language"].as_str().expect("language");
        let (text, html) = (
            m["bodies"][0].as_str().expect("text"),
            m["bodies"][1].as_str().expect("html"),
        );
        if to.contains("kenji") {
            // Python's `email` decoded the RFC 2047 subject.
            assert_eq!(subject, "フェリーと港のお知らせ");
            assert_eq!(lang, "ja");
            assert!(html.contains("<html lang=\"ja\">"), "{html}");
            assert!(text.contains("Kenjiさん、こんにちは。"), "{text}");
            assert!(
                text.contains("ヘッドライン") && text.contains("2026年12月9日"),
                "{text}"
            );
            assert!(text.contains("続きを読む [1]"), "{text}");
            assert!(html.contains("配信停止"), "{html}");
        } else {
            assert_eq!(subject, "Ferries and harbours");
            assert_eq!(lang, "en");
            assert!(html.contains("<html lang=\"en\">"), "{html}");
            assert!(text.contains("Headlines") && text.contains("December 9, 2026"));
            assert!(!text.contains("ヘッドライン"), "{text}");
        }
        seen.push(to);
    }
    seen.sort();
    assert_eq!(seen.len(), 3, "{seen:?}");
    // A test copy to a reader on the list is in their language.
    p.bulletin(&["send", "--issue", ISSUE, "--to", "kenji@example.org"])
        .success();
    let copies: Vec<_> = inspect_eml(&files_under(&sink.dump_dir()))
        .into_iter()
        .filter(|m| {
            m["headers"]["Subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("[Test]"))
        })
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        copies[0]["headers"]["Subject"],
        "[Test] フェリーと港のお知らせ"
    );
}

#[test]
fn check_and_send_show_the_subject_in_the_first_readers_language() {
    let p = Project::sample();
    p.write(
        LIST,
        "email,name,lang\nkenji@example.org,Kenji,ja\nann@example.org,Ann,en\n",
    );
    p.write(
        ISSUE,
        BILINGUAL
            .replace(
                "subject = \"Ferries and harbours\"",
                "subject = \"Ferries for {{ name }}\"\ntitle = \"Ferries\"",
            )
            .replace(
                "subject = \"フェリーと港のお知らせ\"",
                "subject = \"{{ name }}さんへ：フェリーのお知らせ\"\ntitle = \"フェリー\"",
            ),
    );
    let shown = "«Kenjiさんへ：フェリーのお知らせ» (personalised: as kenji@example.org gets it)";
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has(shown);
    dry_run(&p).success().stdout_has(shown);
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "");
    p.bulletin(&["send", "--issue", ISSUE, "--yes"])
        .success()
        .stdout_has(shown);
}

#[test]
fn a_list_without_a_lang_column_reads_the_newsletters_language() {
    let p = Project::sample();
    p.write(ISSUE, BILINGUAL);
    dry_run(&p).success();
    for m in inspect_eml(&crate::util::paths_in(&p.path("preview"), "eml")) {
        assert_eq!(m["headers"]["Content-Language"], "en", "{m}");
        assert_eq!(m["headers"]["Subject"], "Ferries and harbours");
    }
}

#[test]
fn a_missing_or_extra_translation_is_refused_at_its_line() {
    let p = Project::sample();
    // The second story's translation left out, and a preheader the issue
    // does not have.
    let missing = BILINGUAL
        .replace(
            "[[lang.ja.story]]\nheadline = \"港の工事\"\nbody = \"工事が再開します。\"\n",
            "",
        )
        .replace("[lang.ja]\n", "[lang.ja]\npreheader = \"港とフェリー\"\n");
    p.write(ISSUE, &missing);
    let line = |text: &str| {
        missing
            .lines()
            .position(|l| l.contains(text))
            .expect("in the issue")
            + 1
    };
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&format!(
            "{ISSUE}:{}: [lang.ja] translates 1 of the issue's 2 stories: story 2 (\"Harbour works\") has no [[lang.ja.story]]",
            line("[lang.ja]")
        ))
        .stderr_has(&format!(
            "{ISSUE}:{}: [lang.ja] has a `preheader` the issue does not have",
            line("preheader = ")
        ));
    // One story too many.
    let extra =
        format!("{BILINGUAL}\n[[lang.ja.story]]\nheadline = \"余分\"\nbody = \"余分な記事。\"\n");
    p.write(ISSUE, &extra);
    let at = extra
        .lines()
        .position(|l| l.contains("余分\""))
        .expect("extra")
        + 1;
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&format!(
            "{ISSUE}:{}: [lang.ja]: this story is one more",
            at - 1
        ));
    dry_run(&p).failure();
    assert!(!p.path("preview").exists());
    // One language twice (tags are compared without case).
    p.write(
        ISSUE,
        format!(
            "{BILINGUAL}\n{}",
            &BILINGUAL[BILINGUAL.find("[lang.ja]").expect("ja")..].replace("lang.ja", "lang.JA")
        ),
    );
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("is the same language (ja) as the table at line");
    // A translation into the newsletter's own language.
    p.write(ISSUE, BILINGUAL.replace("lang.ja", "lang.en"));
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("[lang.en] is the newsletter's own language");
}

#[test]
fn the_words_bulletin_writes_can_be_set_per_language() {
    let p = Project::sample();
    bilingual(&p);
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[words.ja]\nheadlines = \"見出し\"\n"),
    );
    dry_run(&p).success();
    let kenji = message_to(
        inspect_eml(&crate::util::paths_in(&p.path("preview"), "eml")),
        "kenji",
    );
    assert!(
        kenji["bodies"][0]
            .as_str()
            .expect("text")
            .contains("見出し")
    );
    let config = p.read("config.toml");
    p.write("config.toml", format!("{config}headers = \"x\"\n"));
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("[words.ja] has no word `headers`");
}

#[test]
fn the_archive_has_a_page_a_language_with_hreflang_and_a_feed_a_language() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    bilingual(&p);
    let config = p.read("config.toml");
    let base = "https://alliance-digest.example.org/archive";
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"{base}\"\n"),
    );
    // A picture only the Japanese text shows, beside the issue.
    let png = std::fs::read(crate::util::repo_root().join("tests/fixtures/images/harbour.png"))
        .expect("fixture");
    p.write("issues/harbour.png", &png);
    p.edit(
        ISSUE,
        "body = \"工事が再開します。\"",
        "body = \"工事が再開します。\\n\\n![港の朝](harbour.png)\"",
    );
    // A folder of the editor's own in the site, shaped like a page
    // with a subfolder: never taken for a withdrawn issue's.
    p.write("archive/about/index.html", "<p>about</p>");
    p.write("archive/about/team/index.html", "<p>us</p>");
    p.bulletin(&["send", "--issue", ISSUE, "--yes"]).success();
    assert_eq!(p.read("archive/about/team/index.html"), "<p>us</p>");
    let en = p.read("archive/2026-12-09/index.html");
    let ja = p.read("archive/2026-12-09/ja/index.html");
    for page in [&en, &ja] {
        assert!(
            page.contains(&format!(
                "<link rel=\"alternate\" hreflang=\"en\" href=\"{base}/2026-12-09/\">"
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<link rel=\"alternate\" hreflang=\"ja\" href=\"{base}/2026-12-09/ja/\">"
            )),
            "{page}"
        );
        assert!(page.contains("hreflang=\"x-default\""), "{page}");
    }
    assert!(en.contains("<html lang=\"en\">") && en.contains("Ferry timetable"));
    assert!(
        ja.contains("<html lang=\"ja\">") && ja.contains("フェリーの時刻表"),
        "{ja}"
    );
    assert!(ja.contains("2026年12月9日"), "{ja}");
    // For nobody in particular: the field's default, never its syntax.
    assert!(
        ja.contains("読者さん、こんにちは。") && !ja.contains("{{"),
        "{ja}"
    );
    // Published with the archive, and shown from there on the page.
    let media: Vec<String> = p.files_in("archive/media");
    assert_eq!(media.len(), 1, "{media:?}");
    assert_eq!(
        std::fs::read(p.path(&format!("archive/media/{}", media[0]))).expect("published"),
        png
    );
    assert!(
        ja.contains(&format!("src=\"{base}/media/{}\" alt=\"港の朝\"", media[0])),
        "{ja}"
    );
    // The Japanese reader's "View in browser" is the Japanese page.
    let kenji = message_to(inspect_eml(&files_under(&sink.dump_dir())), "kenji");
    assert!(
        kenji["bodies"][0]
            .as_str()
            .expect("text")
            .starts_with(&format!("ブラウザで見る: {base}/2026-12-09/ja/")),
        "{kenji}"
    );
    // A feed a language, each read by feedparser.
    let feeds = python_json(
        "read_feed.py",
        &[p.path("archive/feed.xml"), p.path("archive/ja/feed.xml")],
    );
    assert_eq!(feeds.len(), 2);
    for f in &feeds {
        assert_eq!(f["bozo"], false, "{f}");
    }
    assert_eq!(feeds[1]["self"], format!("{base}/ja/feed.xml"));
    // Two feeds, two ids: a reader following both sees two feeds.
    assert_eq!(feeds[0]["id"], format!("{base}/"));
    assert_eq!(feeds[1]["id"], format!("{base}/ja/"));
    // Each page names the feed of its own language.
    assert!(ja.contains(&format!("href=\"{base}/ja/feed.xml\"")), "{ja}");
    assert!(en.contains(&format!("href=\"{base}/feed.xml\"")), "{en}");
    let ja_entries = feeds[1]["entries"].as_array().expect("entries");
    assert_eq!(ja_entries.len(), 1);
    assert_eq!(ja_entries[0]["title"], "フェリーと港のお知らせ");
    assert_eq!(ja_entries[0]["link"], format!("{base}/2026-12-09/ja/"));
    assert_eq!(feeds[0]["entries"][0]["title"], "Ferries and harbours");
}

#[test]
fn each_language_has_an_index_and_a_translation_taken_out_is_taken_down() {
    let p = Project::sample();
    bilingual(&p);
    let config = p.read("config.toml");
    let base = "https://alliance-digest.example.org/archive";
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"{base}\"\n"),
    );
    p.bulletin(&["archive", "--issue", ISSUE]).success();
    let main = p.read("archive/index.html");
    let ja = p.read("archive/ja/index.html");
    for index in [&main, &ja] {
        for (tag, href) in [("en", format!("{base}/")), ("ja", format!("{base}/ja/"))] {
            assert!(
                index.contains(&format!(
                    "<link rel=\"alternate\" hreflang=\"{tag}\" href=\"{href}\">"
                )),
                "{index}"
            );
        }
    }
    // The Japanese index: its words, its dates, its pages and feed.
    assert!(ja.contains("<html lang=\"ja\">"), "{ja}");
    assert!(
        ja.contains("2026年12月9日") && ja.contains(">フィードを購読</a>"),
        "{ja}"
    );
    assert!(
        ja.contains(&format!(
            "href=\"{base}/2026-12-09/ja/\">フェリーと港のお知らせ</a>"
        )),
        "{ja}"
    );
    assert!(main.contains(&format!(
        "href=\"{base}/2026-12-09/\">Ferries and harbours</a>"
    )));
    // A Japanese page's way back is the Japanese index.
    let page = p.read("archive/2026-12-09/ja/index.html");
    assert!(
        page.contains(&format!("<a href=\"{base}/ja/\">これまでの号</a>")),
        "{page}"
    );
    let feeds = python_json("read_feed.py", &[p.path("archive/ja/feed.xml")]);
    assert_eq!(feeds[0]["bozo"], false, "{}", feeds[0]);

    // The editor's own pages in the site, one named like a language:
    // never ours to take down.
    p.write("archive/2026-12-09/pdf/index.html", "<p>the PDF</p>");
    p.write("archive/about/index.html", "<p>about us</p>");

    // The translation taken out of the issue: its page goes, and the
    // Japanese index and feed (no issue is in Japanese now); the issue's
    // page and the editor's stay.
    let issue = p.read(ISSUE);
    let cut = issue.find("[lang.ja]").expect("a translation");
    p.write(ISSUE, &issue[..cut]);
    p.bulletin(&["archive", "--issue", ISSUE]).success();
    assert!(!p.path("archive/2026-12-09/ja").exists());
    assert!(!p.path("archive/ja").exists());
    assert!(p.path("archive/2026-12-09/index.html").exists());
    assert_eq!(
        p.read("archive/2026-12-09/pdf/index.html"),
        "<p>the PDF</p>"
    );
    assert_eq!(p.read("archive/about/index.html"), "<p>about us</p>");

    // An issue named like a language is refused: it would share a folder
    // with that language's index.
    p.write(ISSUE, BILINGUAL);
    let named_ja = p.read(ISSUE);
    p.write("issues/ja.toml", named_ja);
    p.bulletin(&["archive", "--issue", ISSUE, "--issue", "issues/ja.toml"])
        .failure()
        .stderr_has("issues/ja.toml: the issue's name `ja` is also the language of a translation");
}
