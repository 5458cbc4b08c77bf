//! `bulletin serve` in the reader's language: a Japanese browser's
//! sign-up page, the confirmation mail (its subject decoded by Python's
//! `email`), the confirm page its link opens, the `lang` the list records,
//! and the unsubscribe and undo pages a Japanese issue's link opens, all
//! in Japanese (one word as the config sets it); an English reader's
//! stay English.

use reqwest::header::ACCEPT_LANGUAGE;

use crate::languages::{BILINGUAL, ISSUE};
use crate::serve::{Served, client, dumped, project, text};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, inspect_eml};

const LIST: &str = "subscribers.example.csv";

/// The value of the hidden `lang` field of a page's forms.
fn lang_field(page: &str) -> Option<&str> {
    let (_, rest) = page.split_once("name=\"lang\" value=\"")?;
    rest.split_once('"').map(|(v, _)| v)
}

/// The mails smtp-sink received for `who`, as `inspect_eml` reads them.
fn mails_to(sink: &SmtpSink, who: &str) -> Vec<serde_json::Value> {
    inspect_eml(&dumped(sink))
        .into_iter()
        .filter(|m| m["headers"]["To"].as_str().is_some_and(|t| t.contains(who)))
        .collect()
}

/// The first https or http link in `text` that contains `part`.
fn link_with(text: &str, part: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(part))
        .unwrap_or_else(|| panic!("no link with {part} in {text}"))
        .trim_end_matches(['>', ')'])
        .to_owned()
}

#[test]
fn serve_pages_in_japanese_for_a_japanese_reader() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    p.write(ISSUE, BILINGUAL);
    // One of serve's words set by the editor, for Japanese only.
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[words.ja]\nsubscribe_button = \"申し込む\"\n"),
    );
    let served = Served::start(&p, port, PINNED_EPOCH);
    let base = &served.base;
    let http = client();

    // The sign-up form, as a Japanese browser asks for it.
    let (status, page) = text(
        http.get(format!("{base}/subscribe"))
            .header(ACCEPT_LANGUAGE, "ja-JP,ja;q=0.9,en;q=0.8")
            .send()
            .expect("get"),
    );
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"ja\">"), "{page}");
    assert!(page.contains("購読のお申し込み") && page.contains(">申し込む</button>"));
    assert!(!page.contains(">Subscribe</button>"), "{page}");
    assert_eq!(lang_field(&page), Some("ja"));
    // Without the header, the newsletter's language; a German browser's
    // missing page is German.
    let (_, english) = text(http.get(format!("{base}/subscribe")).send().expect("get"));
    assert!(english.contains("<html lang=\"en\">") && english.contains(">Subscribe</button>"));
    let (status, missing) = text(
        http.get(format!("{base}/nothing-here"))
            .header(ACCEPT_LANGUAGE, "de-DE")
            .send()
            .expect("get"),
    );
    assert_eq!(status, 404);
    assert!(missing.contains("Diese Seite gibt es nicht"), "{missing}");

    // The form posts its language; the browser's no longer matters.
    let (status, page) = text(
        http.post(format!("{base}/subscribe"))
            .header(ACCEPT_LANGUAGE, "en")
            .form(&[
                ("email", "hanako@example.jp"),
                ("name", "Hanako"),
                ("lang", "ja"),
            ])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("受信箱をご確認ください"), "{page}");

    // The confirmation mail, in Japanese.
    let start = std::time::Instant::now();
    let mail = loop {
        if let Some(m) = mails_to(&sink, "hanako@example.jp").pop() {
            break m;
        }
        assert!(start.elapsed().as_secs() < 20, "no confirmation mail");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(mail["defects"].as_array().map(Vec::len), Some(0), "{mail}");
    assert_eq!(
        mail["headers"]["Subject"],
        "US-Japan Alliance Digestの購読確認"
    );
    assert_eq!(mail["headers"]["Content-Language"], "ja");
    let body = mail["bodies"][0].as_str().expect("text part");
    assert!(body.contains("リンクの有効期限は"), "{body}");
    assert!(
        mail["bodies"][1]
            .as_str()
            .expect("html")
            .contains(">購読を確定する</a>")
    );
    let confirm = link_with(body, "/confirm/");
    assert!(confirm.ends_with("?lang=ja"), "{confirm}");

    // Its link opens the confirm page in Japanese, whatever the browser.
    let (status, page) = text(http.get(&confirm).send().expect("get"));
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<html lang=\"ja\">") && page.contains("購読の確認"),
        "{page}"
    );
    assert!(
        page.contains("hanako@example.jp の購読を確定してください"),
        "{page}"
    );
    // The language is the reader's to choose, shown, the link's selected.
    assert!(
        page.contains("<select id=\"lang\" name=\"lang\">"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"ja\" lang=\"ja\" selected>日本語</option>"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"en\" lang=\"en\">English</option>"),
        "{page}"
    );
    let (status, page) = text(
        http.post(&confirm)
            .form(&[("name", "Hanako"), ("lang", "ja")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("購読を開始しました"), "{page}");

    // The list had no `lang` column: the confirmation gave it one.
    let rows = lang_rows(&p, "hanako@example.jp");
    assert_eq!(
        rows.last(),
        Some(&("subscribed".to_owned(), "ja".to_owned())),
        "{rows:?}"
    );

    // The issue: Hanako gets the Japanese one, its unsubscribe link names
    // the language; Alice's English one does not.
    p.bulletin(&["send", "--issue", ISSUE, "--yes"]).success();
    let hanako = mails_to(&sink, "hanako@example.jp")
        .into_iter()
        .find(|m| m["headers"]["Subject"] == "フェリーと港のお知らせ")
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                mails_to(&sink, "hanako@example.jp")
                    .iter()
                    .map(|m| m["headers"]["Subject"].clone())
                    .collect::<Vec<_>>()
            )
        });
    let header = hanako["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("header");
    let unsubscribe = header[1..header.find('>').expect("<url>")].to_owned();
    assert!(unsubscribe.ends_with("?lang=ja"), "{unsubscribe}");
    let alice = mails_to(&sink, "alice@example.org")
        .into_iter()
        .find(|m| m["headers"]["Subject"] == "Ferries and harbours")
        .expect("the English issue");
    assert!(
        !alice["headers"]["List-Unsubscribe"]
            .as_str()
            .expect("h")
            .contains("lang=")
    );

    // Its unsubscribe, the one-click answer and "Undo", all Japanese.
    let (status, page) = text(http.get(&unsubscribe).send().expect("get"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">配信を停止する</button>"), "{page}");
    let (status, page) = text(
        http.post(&unsubscribe)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("配信を停止しました") && page.contains("取り消して購読を続ける"));
    assert_eq!(lang_field(&page), Some("ja"));
    let undo_token = page
        .split_once("name=\"undo\" value=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(v, _)| v.to_owned())
        .expect("an undo form");
    let path = unsubscribe.split_once('?').expect("query").0;
    let (status, page) = text(
        http.post(format!("{path}/undo"))
            .form(&[("undo", undo_token.as_str()), ("lang", "ja")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("購読を再開しました"), "{page}");

    // A broken link in Japanese says so in Japanese.
    let (status, page) = text(
        http.get(format!("{base}/unsubscribe/not-a-token?lang=ja"))
            .send()
            .expect("get"),
    );
    assert_eq!(status, 400);
    assert!(page.contains("この配信停止リンクは無効です"), "{page}");
    // The ways on at its foot too.
    assert!(
        page.contains("aria-label=\"その他\"") && page.contains(">購読する</a>"),
        "{page}"
    );

    // A reader once Japanese (the editor's rows), who left, signs up
    // again on English pages: confirming in the newsletter's own language
    // puts them back to it.
    let list = p.read(LIST);
    p.write(
        LIST,
        format!(
            "{list}taro@example.jp,Taro,subscribed,2022-07-01T00:00:00Z,ja\n\
             taro@example.jp,,unsubscribed,2022-07-02T00:00:00Z,\n"
        ),
    );
    http.post(format!("{base}/subscribe"))
        .form(&[("email", "taro@example.jp"), ("lang", "en")])
        .send()
        .expect("post");
    let start = std::time::Instant::now();
    let english = loop {
        if let Some(m) = mails_to(&sink, "taro@example.jp").pop() {
            break m;
        }
        assert!(start.elapsed().as_secs() < 20, "no confirmation");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        english["headers"]["Subject"],
        "Confirm your subscription to US-Japan Alliance Digest"
    );
    let confirm = link_with(english["bodies"][0].as_str().expect("text"), "/confirm/");
    assert!(confirm.ends_with("?lang=en"), "{confirm}");
    let (status, page) = text(
        http.post(&confirm)
            .form(&[("lang", "en")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are subscribed"), "{page}");
    let rows = lang_rows(&p, "taro@example.jp");
    assert_eq!(
        rows.last(),
        Some(&("subscribed".to_owned(), "en".to_owned())),
        "{rows:?}"
    );
}

/// Each row of `who`: its status and its `lang`.
fn lang_rows(p: &crate::util::Project, who: &str) -> Vec<(String, String)> {
    let mut list = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(p.path(LIST))
        .expect("list");
    let header: Vec<String> = list
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let at = header
        .iter()
        .position(|h| h == "lang")
        .expect("a lang column");
    list.records()
        .map(|r| {
            r.expect("row")
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|r| r[0] == who)
        .map(|r| (r[2].clone(), r.get(at).cloned().unwrap_or_default()))
        .collect()
}
