//! The newsletter on the web: `bulletin archive` after a real send, read
//! by a real feed parser (Python's feedparser), served by `bulletin
//! serve`, shown in headless Chromium at phone and desktop widths, and
//! holding nothing of any reader's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use crate::serve::{Served, client, laid_out, project, unsubscribe_url};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project, python_json};

/// The sample served on a free port with an `[archive]` that `serve`
/// serves (its url defaults to `{public_url}/archive`), its issue sent
/// through smtp-sink. Returns the project, the sink and the port.
fn sent(extra_archive: &str) -> (Project, SmtpSink, u16) {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[archive]\n{extra_archive}\n"),
    );
    p.send(&[])
        .success()
        .stdout_has("sent:         4")
        .stdout_has("archive:");
    (p, sink, port)
}

/// Every file under `dir`, with its bytes, by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    crate::util::files_under(dir)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("file");
            (path, bytes)
        })
        .collect()
}

/// feedparser's reading of a feed.
fn feed(path: &Path) -> serde_json::Value {
    python_json("read_feed.py", &[path.to_path_buf()])
        .pop()
        .expect("a verdict")
}

#[test]
fn a_sent_issue_is_published_with_a_feed_a_feed_reader_accepts() {
    let (p, _sink, port) = sent("");
    let dir = p.path("archive");
    let f = feed(&dir.join("feed.xml"));
    assert_eq!(f["bozo"], false, "{f}");
    let base = format!("http://127.0.0.1:{port}/archive");
    assert_eq!(f["self"], format!("{base}/feed.xml"));
    assert_eq!(f["id"], format!("{base}/"));
    let entries = f["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{f}");
    let e = &entries[0];
    assert_eq!(e["title"], "US-Japan Alliance Digest: August 1, 2022");
    assert_eq!(e["link"], format!("{base}/2022-08-01/"));
    assert_eq!(e["id"], format!("{base}/2022-08-01/"));
    // Dated by the first send (the log's first `sent` row), not midnight.
    let first_sent = p
        .log_rows()
        .into_iter()
        .find(|r| r.status == "sent")
        .expect("a sent row")
        .timestamp;
    assert_eq!(
        e["published"].as_str().map(|s| s.replace("+00:00", "Z")),
        Some(first_sent.clone()),
        "{e}"
    );
    assert_eq!(e["updated"], e["published"]);
    assert_eq!(
        e["author"], "US-Japan Alliance Digest (digest@example.org)",
        "{e}"
    );
    assert_eq!(f["author_detail"]["email"], "digest@example.org", "{f}");
    // The issue's content only: its stories, each once, with their links;
    // no document, stylesheet, preheader, Headlines list or footer.
    let content = e["content"].as_str().expect("content");
    assert!(content.contains("Blinken"), "not the full issue: {content}");
    for furniture in [
        "<style",
        "<!DOCTYPE",
        "<title",
        "preheader",
        "Headlines",
        "Unsubscribe",
        "with the link in any issue",
        "<table",
    ] {
        assert!(!content.contains(furniture), "{furniture} in {content}");
    }
    let issue = p.read("issues/2022-08-01.toml");
    let first_headline = issue
        .lines()
        .filter_map(|l| l.strip_prefix("headline = \""))
        .nth(1)
        .and_then(|l| l.strip_suffix('"'))
        .expect("a headline");
    assert_eq!(
        content.matches(first_headline).count(),
        1,
        "{first_headline} shown more than once: {content}"
    );
    assert!(
        e["summary"]
            .as_str()
            .is_some_and(|s| s.contains("US &") || s.contains("US &amp;"))
    );

    // An issue not yet sent is a draft: out. `--issue` publishes it; the
    // newer one comes first.
    let draft = p
        .read("issues/2022-08-01.toml")
        .replace("2022-08-01", "2022-08-15");
    p.write("issues/2022-08-15.toml", draft);
    p.bulletin(&["archive"])
        .success()
        .stdout_has("1 issue published");
    assert!(!dir.join("2022-08-15").exists());
    p.bulletin(&["archive", "--issue", "issues/2022-08-15.toml"])
        .success()
        .stdout_has("2 issues published");
    let f = feed(&dir.join("feed.xml"));
    let ids: Vec<&str> = f["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            format!("{base}/2022-08-15/").as_str(),
            format!("{base}/2022-08-01/").as_str()
        ]
    );
    // Published before a send: dated noon UTC of its date (the same day
    // from UTC-11 to UTC+11). Sent for real, it is dated by that send.
    let published = |f: &serde_json::Value, i: usize| {
        f["entries"][i]["published"]
            .as_str()
            .map(|s| s.replace("+00:00", "Z"))
    };
    assert_eq!(published(&f, 0).as_deref(), Some("2022-08-15T12:00:00Z"));
    p.bulletin(&["send", "--issue", "issues/2022-08-15.toml", "--yes"])
        .success()
        .stdout_has("sent:         4");
    let second_sent = csv::Reader::from_path(p.path("logs/2022-08-15.csv"))
        .expect("log")
        .records()
        .map(|r| r.expect("row"))
        .find(|r| &r[2] == "sent")
        .map(|r| r[0].to_owned())
        .expect("a sent row");
    let f = feed(&dir.join("feed.xml"));
    assert_eq!(f["bozo"], false, "{f}");
    assert_eq!(published(&f, 0), Some(second_sent), "{f}");
    assert_eq!(published(&f, 1), Some(first_sent.clone()), "{f}");
    for e in f["entries"].as_array().expect("entries") {
        let content = e["content"].as_str().expect("content");
        assert!(!content.contains("<style") && !content.contains("Unsubscribe"));
    }
    // The same inputs, the same bytes; nothing rewritten.
    let before = tree(&dir);
    p.bulletin(&["archive", "--issue", "issues/2022-08-15.toml"])
        .success()
        .stdout_has("0 files written, 4 unchanged");
    assert_eq!(tree(&dir), before);
    // `archive = false` takes an issue out, page and entry.
    let sent_issue = p.read("issues/2022-08-01.toml");
    p.write(
        "issues/2022-08-01.toml",
        format!("archive = false\n{sent_issue}"),
    );
    p.bulletin(&["archive", "--issue", "issues/2022-08-15.toml"])
        .success()
        .stdout_has("1 issue published")
        .stdout_has("1 removed");
    assert!(!dir.join("2022-08-01").exists());
    let f = feed(&dir.join("feed.xml"));
    assert_eq!(f["entries"].as_array().map(Vec::len), Some(1));
}

/// Nothing of any reader's is in the site: no address, no name, no token.
#[test]
fn the_archive_holds_no_readers_address_name_or_token() {
    let (p, _sink, _port) = sent("");
    p.dry_run_fresh("preview").success();
    let mut secrets: Vec<String> = Vec::new();
    for (email, name) in [
        ("alice@example.org", "Alice Example"),
        ("bob@example.org", "Bob Example"),
        ("zoe@example.org", "Zoë Ōtsuka-Brontë"),
        ("dana@example.org", "Dana"),
        ("erin@example.org", "Erin Left"),
    ] {
        secrets.push(email.to_owned());
        secrets.push(name.to_owned());
        if email != "erin@example.org" {
            let url = unsubscribe_url(&p, "preview", email);
            let token = url.rsplit('/').next().expect("token").to_owned();
            assert!(token.len() > 20);
            secrets.push(token);
        }
    }
    let files = tree(&p.path("archive"));
    assert_eq!(files.len(), 3);
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{} holds {s:?}", path.display());
        }
        assert!(!text.contains("unsubscribe/"), "{}", path.display());
    }
}

/// A raw request, for paths a client library would tidy up first.
fn raw_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serve_serves_the_archive_with_caching_and_nothing_outside_it() {
    let (p, _sink, port) = sent("");
    let served = Served::start(&p, port, PINNED_EPOCH);
    let base = &served.base;
    let http = client();
    for (path, kind) in [
        ("/archive/", "text/html; charset=utf-8"),
        ("/archive/2022-08-01/", "text/html; charset=utf-8"),
        ("/archive/feed.xml", "application/atom+xml"),
    ] {
        let r = http.get(format!("{base}{path}")).send().expect("get");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], kind, "{path}");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .expect("cc")
                .contains("max-age")
        );
        let etag = r.headers()["etag"].clone();
        let body = r.bytes().expect("body");
        let on_disk = std::fs::read(p.path(&format!(
            "archive/{}",
            path.trim_start_matches("/archive/").to_owned()
                + if path.ends_with('/') {
                    "index.html"
                } else {
                    ""
                }
        )))
        .expect("file");
        assert_eq!(body.as_ref(), on_disk.as_slice(), "{path}");
        let again = http
            .get(format!("{base}{path}"))
            .header("If-None-Match", etag)
            .send()
            .expect("get");
        assert_eq!(again.status(), 304, "{path}");
    }
    let r = http
        .get(format!("{base}/archive/2022-08-01"))
        .send()
        .expect("get");
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/archive/2022-08-01/");
    // Out of the folder: never.
    // A page outside the folder, linked in: still outside.
    p.write("secret.html", "<p>not for the web: alice@example.org</p>");
    std::os::unix::fs::symlink(p.path("secret.html"), p.path("archive/out.html")).expect("link");
    for path in [
        "/archive/../config.toml",
        "/archive/%2e%2e/config.toml",
        "/archive/..%2fconfig.toml",
        "/archive/2022-08-01/..%2f..%2fconfig.toml",
        "/archive/%2e%2e%2fsubscribers.example.csv",
        "/archive/out.html",
        "/archive/nothing/",
    ] {
        let answer = raw_get(port, path);
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(
            !answer.contains("[newsletter]") && !answer.contains("alice@"),
            "{path}"
        );
    }
}

/// The "View in browser" link in a dry-run's message, in both parts, is
/// the page `serve` returns.
#[test]
fn the_view_in_browser_link_leads_to_the_issues_page() {
    let (p, _sink, port) = sent("");
    let served = Served::start(&p, port, PINNED_EPOCH);
    p.dry_run_fresh("preview").success();
    let eml = p
        .files_in("preview")
        .into_iter()
        .find(|f| f.ends_with(".eml"))
        .expect("an .eml");
    let raw = p.read(&format!("preview/{eml}"));
    // Quoted-printable: soft line breaks joined, `=3D` read.
    let decoded = raw.replace("=\r\n", "").replace("=3D", "=");
    let page = format!("{}/archive/2022-08-01/", served.base);
    assert!(
        decoded.contains(&format!("View in browser: {page}")),
        "text part"
    );
    assert!(
        decoded.contains(&format!("<a href=\"{page}\""))
            && decoded.contains(">View in browser</a>"),
        "HTML part"
    );
    let r = client().get(&page).send().expect("get");
    assert_eq!(r.status(), 200);
    let body = r.text().expect("body");
    assert_eq!(body, p.read("archive/2022-08-01/index.html"));
    assert!(body.contains(
        "<title>US-Japan Alliance Digest: August 1, 2022 · US-Japan Alliance Digest</title>"
    ));
}

/// The index and an issue's page in Chromium at 360 and 1000 px: they
/// render, with no horizontal scroll, and the feed is discoverable.
#[test]
fn the_site_fits_a_phone_and_a_desktop_and_names_its_feed() {
    let (p, _sink, _port) = sent("");
    let dir = p.path("archive");
    for page in ["index.html", "2022-08-01/index.html"] {
        let html = std::fs::read_to_string(dir.join(page)).expect("page");
        assert!(
            html.contains("<link rel=\"alternate\" type=\"application/atom+xml\""),
            "{page}"
        );
        assert!(html.contains("property=\"og:title\""), "{page}");
        for width in [360, 1000] {
            let (laid, text) = laid_out(&dir, page, width);
            assert!(laid <= width, "{page} at {width} px scrolls sideways");
            assert!(text > 200, "{page} at {width} px shows nothing");
        }
    }
}

/// `check` warns while the page the mail links to is not published yet.
#[test]
fn check_warns_until_the_issues_page_is_published() {
    let p = Project::sample();
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"https://news.example.org/archive\"\n"),
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("https://news.example.org/archive/2022-08-01/")
        .stderr_has("is not published yet");
    p.bulletin(&["archive", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("1 issue published");
    let run = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    run.success();
    assert!(!run.stderr.contains("not published"), "{}", run.stderr);
}
