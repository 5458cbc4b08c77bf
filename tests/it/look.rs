//! What a reader sees, checked as a reader's browser shows it: every page
//! `serve` answers and `archive` writes, and the HTML part of every kind
//! of mail (issue, test copy, confirmation, welcome), loaded in headless
//! Chromium by Playwright, light and dark, 360 and 1000 px wide: nothing
//! overflows, and axe-core's `color-contrast` rule (WCAG AA) finds
//! nothing. Then the ways on from each page, through real HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::serve::{
    Served, client, confirm_as_shown, dumped, project, rows_of, text, wait_for_mail,
};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project, repo_root};
use crate::welcome::{WELCOME, write_welcome};

/// The sample project served with an archive, labelled topics and a
/// welcome issue, its issue sent to smtp-sink and published.
fn site(sink: &SmtpSink) -> (Project, Served) {
    let port = free_port();
    let p = project(
        port,
        sink,
        &format!(
            "topics = [{{ tag = \"japan\", label = \"Japan desk\" }}, \"korea\"]\nwelcome = \"{WELCOME}\"\nsubscribe_limit_per_minute = 100"
        ),
    );
    write_welcome(&p);
    let config = p.read("config.toml");
    p.write("config.toml", format!("{config}\n[archive]\n"));
    p.send(&[]).success().stdout_has("sent:         4");
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "editor@example.org",
    ])
    .success();
    p.dry_run_fresh("preview").success();
    let served = Served::start(&p, port, PINNED_EPOCH);
    (p, served)
}

/// Saves a page's HTML as `name.html` in `dir`.
fn keep(dir: &Path, name: &str, (status, html): (u16, String), want: u16) -> PathBuf {
    assert_eq!(status, want, "{name}: {html}");
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, html).expect("write");
    path
}

fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    text(client().post(url).form(form).send().expect("post"))
}

fn get(url: &str) -> (u16, String) {
    text(client().get(url).send().expect("get"))
}

/// The undo form's action and the value of its sealed `undo` field.
fn undo_form(page: &str) -> (String, String) {
    let action = page
        .split_once("action=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_else(|| panic!("no undo form: {page}"));
    let at = page
        .split_once("name=\"undo\" value=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(a, _)| a.to_owned())
        .expect("at");
    (action, at)
}

/// Every page and mail, through look.py (Playwright, Chromium, axe-core).
#[test]
fn every_page_and_mail_reads_in_light_and_dark_at_phone_and_desktop_width() {
    let sink = SmtpSink::start(&[]);
    let (p, served) = site(&sink);
    let base = &served.base;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let mut files = vec![
        keep(d, "home", get(&format!("{base}/")), 200),
        keep(d, "archive-index", get(&format!("{base}/archive/")), 200),
        keep(
            d,
            "archive-issue",
            get(&format!("{base}/archive/2022-08-01/")),
            200,
        ),
        keep(d, "not-found", get(&format!("{base}/nothing-here")), 404),
        keep(d, "bad-link", get(&format!("{base}/confirm/garbage")), 400),
        keep(
            d,
            "check-inbox",
            post(
                &format!("{base}/subscribe"),
                &[("email", "new@example.org"), ("topic-japan", "yes")],
            ),
            200,
        ),
    ];
    let link = wait_for_mail(&sink, "new@example.org", 1).remove(0);
    files.push(keep(d, "confirm-form", get(&link), 200));
    files.push(keep(
        d,
        "subscribed",
        confirm_as_shown(&link, Some("Nell")),
        200,
    ));
    files.push(keep(d, "subscribed-already", post(&link, &[]), 410));
    let unsubscribe = crate::serve::unsubscribe_url(&p, "preview", "alice@example.org");
    files.push(keep(d, "unsubscribe-form", get(&unsubscribe), 200));
    let (status, page) = post(&unsubscribe, &[("List-Unsubscribe", "One-Click")]);
    files.push(keep(d, "unsubscribed", (status, page.clone()), 200));
    let (action, at) = undo_form(&page);
    let undo = format!("{unsubscribe}/undo");
    assert!(undo.ends_with(&action), "{action}");
    files.push(keep(d, "resubscribed", post(&undo, &[("undo", &at)]), 200));
    files.push(keep(d, "undo-stale", post(&undo, &[("undo", &at)]), 410));
    // A stale link of someone not subscribed: the sign-up form in the page.
    p.bulletin(&["unsubscribe", "new@example.org"]).success();
    files.push(keep(d, "stale-link", post(&link, &[]), 410));
    // Every kind of mail: the issue, the test copy, the confirmation and
    // the welcome, as smtp-sink received them.
    let welcome_deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mails = loop {
        let mails: Vec<PathBuf> = dumped(&sink);
        let has = |needle: &str| {
            mails
                .iter()
                .any(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains(needle)))
        };
        if has("Subject: Welcome") || std::time::Instant::now() > welcome_deadline {
            break mails;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut kinds = std::collections::BTreeSet::new();
    for mail in &mails {
        let raw = std::fs::read_to_string(mail).expect("mail");
        let kind = if raw.contains("Subject: Welcome") {
            "welcome"
        } else if raw.contains("Subject: Confirm your subscription") {
            "confirmation"
        } else if raw.contains("editor@example.org") {
            "test copy"
        } else {
            "issue"
        };
        if kinds.insert(kind) {
            let eml = d.join(format!("mail-{}.eml", kind.replace(' ', "-")));
            std::fs::copy(mail, &eml).expect("copy");
            files.push(eml);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["confirmation", "issue", "test copy", "welcome"]
    );

    let axe = repo_root().join("tests/support/axe/node_modules/axe-core/axe.min.js");
    assert!(
        axe.exists(),
        "axe-core is not installed: run scripts/install-test-deps"
    );
    let out = Command::new("python3")
        .arg(repo_root().join("tests/support/look.py"))
        .arg(&axe)
        .args(&files)
        .output()
        .expect("python3 with playwright (scripts/install-test-deps)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each file in two schemes at two widths: nothing skipped.
    assert!(
        report.contains(&format!("\"looked\": {}", files.len() * 4)),
        "{report}"
    );
}

/// No dead ends: each page a reader can land on has a way on, and the
/// unsubscribe can be undone for a day, only while it is the last change.
#[test]
fn every_page_has_a_way_on_and_an_unsubscribe_can_be_undone_for_a_day() {
    let sink = SmtpSink::start(&[]);
    let (p, served) = site(&sink);
    let base = served.base.clone();
    let signup = format!("{base}/subscribe");
    let archive = format!("{base}/archive/");

    // `GET /` is the sign-up page, with a link to the archive and the
    // topics by their labels.
    let (status, home) = get(&format!("{base}/"));
    assert_eq!(status, 200);
    assert!(
        home.contains("name=\"email\"") && home.contains(&archive),
        "{home}"
    );
    assert!(
        home.contains("Japan desk") && home.contains("name=\"topic-japan\""),
        "{home}"
    );
    // The archive's index and its issue page lead to the sign-up page.
    for page in [archive.clone(), format!("{archive}2022-08-01/")] {
        let (status, html) = get(&page);
        assert_eq!(status, 200);
        assert!(
            html.contains(&format!("href=\"{signup}\"")),
            "{page}: {html}"
        );
    }
    // A 404 in the same look, with the way to sign up.
    let (status, html) = get(&format!("{base}/no/such/page"));
    assert_eq!(status, 404);
    assert!(
        html.contains("class=\"masthead\"") && html.contains(&signup),
        "{html}"
    );

    // Confirmed: the page points to the archive; a second press says
    // "subscribed already", with the archive, and writes nothing.
    post(&signup, &[("email", "ned@example.org")]);
    let link = wait_for_mail(&sink, "ned@example.org", 1).remove(0);
    let (status, page) = confirm_as_shown(&link, None);
    assert_eq!(status, 200);
    assert!(
        page.contains("You are subscribed") && page.contains(&archive),
        "{page}"
    );
    let before = p.read("subscribers.example.csv");
    let (status, page) = post(&link, &[]);
    assert_eq!(status, 410);
    assert!(
        page.contains("subscribed already") && page.contains(&archive),
        "{page}"
    );
    let (_, page) = get(&link);
    assert!(page.contains("subscribed already"), "a second open: {page}");
    assert_eq!(p.read("subscribers.example.csv"), before);

    // Unsubscribed: the page offers "Undo"; it subscribes again (no second
    // welcome), and a second undo changes nothing.
    let unsubscribe = crate::serve::unsubscribe_url(&p, "preview", "alice@example.org");
    let (status, page) = post(&unsubscribe, &[("List-Unsubscribe", "One-Click")]);
    assert_eq!(status, 200);
    let (_, at) = undo_form(&page);
    assert_eq!(
        rows_of(&p, "alice@example.org").last().expect("row")[2],
        "unsubscribed"
    );
    let undo = format!("{unsubscribe}/undo");
    let (status, page) = post(&undo, &[("undo", &at)]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("subscribed again"), "{page}");
    assert_eq!(
        rows_of(&p, "alice@example.org").last().expect("row")[2],
        "subscribed"
    );
    let before = p.read("subscribers.example.csv");
    let (status, page) = post(&undo, &[("undo", &at)]);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("no longer be undone"), "{page}");
    assert_eq!(
        p.read("subscribers.example.csv"),
        before,
        "a second undo wrote"
    );
    // A made-up undo (a bare time, a damaged token) is refused.
    for forged in ["12345", "", &at[1..]] {
        let (status, _) = post(&undo, &[("undo", forged), ("at", "12345")]);
        assert_eq!(status, 410, "{forged}");
    }
    assert_eq!(
        p.read("subscribers.example.csv"),
        before,
        "a forged undo wrote"
    );

    // Undo never subscribes someone who was not mailed: a sign-up still
    // waiting, then that address's unsubscribe link, offers no undo.
    let secret = secrecy::SecretString::from(crate::util::UNSUBSCRIBE_SECRET.to_owned());
    let config = bulletin::input::config::Config::load(&p.path("config.toml")).expect("config");
    let tokens = bulletin::audience::unsubscribe::Unsubscriber::new(
        config.unsubscribe.as_ref().expect("[unsubscribe]"),
        config.newsletter.list_id.as_str(),
        Some(secret),
    );
    post(&signup, &[("email", "wes@example.org")]);
    let wes = bulletin::input::email::Email::parse("wes@example.org").expect("email");
    let (status, page) = post(&tokens.url(&wes), &[("List-Unsubscribe", "One-Click")]);
    assert_eq!(status, 200, "{page}");
    assert!(
        !page.contains("name=\"undo\""),
        "undo over a sign-up: {page}"
    );
    assert_eq!(
        rows_of(&p, "wes@example.org").last().expect("row")[2],
        "unsubscribed"
    );

    // An undo after a later change (here the editor's unsubscribe) is
    // stale: nothing written, and the sign-up form offered.
    let (_, page) = post(&unsubscribe, &[("List-Unsubscribe", "One-Click")]);
    let (_, at) = undo_form(&page);
    // (A minute on: the list's times are to the second.)
    let minute_on = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 60).to_string();
    let on = [("SOURCE_DATE_EPOCH", minute_on.as_str())];
    p.bulletin_with(&["subscribe", "alice@example.org"], &on)
        .success();
    p.bulletin_with(&["unsubscribe", "alice@example.org"], &on)
        .success();
    let before = p.read("subscribers.example.csv");
    let (status, page) = post(&undo, &[("undo", &at)]);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("name=\"email\""), "{page}");
    assert_eq!(p.read("subscribers.example.csv"), before);

    // A day and more on, "Undo" is no longer honoured; pressed again,
    // the unsubscribe page offers none (it changed nothing).
    p.bulletin(&["subscribe", "alice@example.org"]).success();
    let (_, page) = post(&unsubscribe, &[("List-Unsubscribe", "One-Click")]);
    let (_, at) = undo_form(&page);
    let (_, page) = post(&unsubscribe, &[("List-Unsubscribe", "One-Click")]);
    assert!(
        !page.contains("name=\"at\""),
        "undo of an earlier unsubscribe: {page}"
    );
    assert!(page.contains(&signup), "{page}");
    let port = served.port;
    drop(served);
    let later = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 2 * 86_400).to_string();
    let served = Served::start(&p, port, &later);
    let before = p.read("subscribers.example.csv");
    let (status, page) = post(&undo, &[("undo", &at)]);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("no longer be undone"), "{page}");
    assert_eq!(p.read("subscribers.example.csv"), before);
    drop(served);
}
