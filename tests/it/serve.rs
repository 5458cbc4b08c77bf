//! `bulletin serve` over real HTTP: the binary on a free loopback port,
//! talked to with reqwest, curl and headless Chromium; confirmation mail
//! caught by smtp-sink; the list read back byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response, multipart};

use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project};

const LIST: &str = "subscribers.example.csv";

/// A running `bulletin serve`, stopped when dropped.
pub struct Served {
    pub base: String,
    pub port: u16,
    child: Child,
}

impl Served {
    pub fn start(p: &Project, port: u16, epoch: &str) -> Self {
        Self::start_listening(p, &format!("127.0.0.1:{port}"), port, epoch)
    }

    /// On `listen` (`[::]:PORT` for every address), reached at 127.0.0.1.
    pub fn start_listening(p: &Project, listen: &str, port: u16, epoch: &str) -> Self {
        let mut child = p
            .command(&["serve", "--listen", listen])
            .env("SOURCE_DATE_EPOCH", epoch)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("serve exited: {status}: {err}");
            }
            if client()
                .get(format!("{base}/healthz"))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { base, port, child }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The sample project with `[serve]` on `port`, its unsubscribe links
/// pointing there, confirmation mail going to `sink`, and `extra` keys in
/// `[serve]`.
pub fn project(port: u16, sink: &SmtpSink, extra: &str) -> Project {
    project_on(port, sink.port, "", extra)
}

/// The same with mail going to a relay on `relay`, `smtp` keys added to
/// `[smtp]`.
pub fn project_on(port: u16, relay: u16, smtp: &str, extra: &str) -> Project {
    let p = Project::sample();
    p.with_server(relay, smtp, "").edit(
        "config.toml",
        "url = \"https://alliance-digest.example.org/unsubscribe/{token}\"",
        &format!("url = \"http://127.0.0.1:{port}/unsubscribe/{{token}}\""),
    );
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[serve]\npublic_url = \"http://127.0.0.1:{port}\"\n{extra}\n"),
    );
    p
}

/// A served project; the fields drop in order, the server first.
pub struct Setup {
    pub served: Served,
    pub p: Project,
    pub sink: SmtpSink,
}

/// The sample project served on a free port, with `extra` in `[serve]`.
pub fn started(extra: &str) -> Setup {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, extra);
    let served = Served::start(&p, port, PINNED_EPOCH);
    Setup { served, p, sink }
}

/// Each `(url, form)` posted from its own thread, all at once; every
/// answer must be 200.
fn post_in_parallel(posts: Vec<(String, Vec<(String, String)>)>) {
    let threads: Vec<_> = posts
        .into_iter()
        .map(|(url, form)| {
            std::thread::spawn(move || {
                client()
                    .post(url)
                    .form(&form)
                    .send()
                    .expect("post")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 200);
    }
}

/// What a browser sends when the reader presses Confirm on the confirm
/// page as it is shown (its name field and ticked topics unchanged);
/// `name` overrides the name field. Returns the status and page.
pub fn confirm_as_shown(url: &str, name: Option<&str>) -> (u16, String) {
    let (status, page) = text(client().get(url).send().expect("get"));
    assert_eq!(status, 200, "{page}");
    let shown = page
        .split_once("id=\"name\"")
        .and_then(|(_, rest)| rest.split_once("value=\""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| unescape(v))
        .unwrap_or_default();
    let mut form = vec![("name".to_owned(), name.map_or(shown, str::to_owned))];
    for part in page.split("<input type=\"checkbox\" name=\"").skip(1) {
        let (field, rest) = part.split_once('"').expect("name");
        if rest
            .split_once('>')
            .is_some_and(|(attrs, _)| attrs.contains("checked"))
        {
            form.push((field.to_owned(), "yes".to_owned()));
        }
    }
    text(client().post(url).form(&form).send().expect("post"))
}

/// The five entities maud writes.
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn text(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().expect("body"))
}

/// The confirmation links smtp-sink received, oldest first, by recipient.
pub fn confirmation_links(sink: &SmtpSink, to: &str) -> Vec<String> {
    let mut found = Vec::new();
    for path in dumped(sink) {
        let raw = std::fs::read_to_string(&path).unwrap_or_default();
        if !raw.contains(&format!("X-Rcpt-Args: <{to}>")) && !raw.contains(&format!("<{to}>")) {
            continue;
        }
        // Quoted-printable: soft line breaks joined; tokens have no `=`.
        let joined = raw.replace("=\r\n", "").replace("=\n", "");
        if let Some(at) = joined.find("/confirm/") {
            let start = joined[..at].rfind("http").expect("a link");
            let end = joined[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "/-_:.".contains(c)))
                .map_or(joined.len(), |i| at + i);
            found.push(joined[start..end].to_owned());
        }
    }
    found
}

pub fn dumped(sink: &SmtpSink) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![sink.dump_dir()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn wait_for_mail(sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let links = confirmation_links(sink, to);
        if links.len() >= n {
            return links;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no confirmation mail to {to}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The list's rows for one address (case-insensitive).
pub fn rows_of(p: &Project, email: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(p.path(LIST))
        .expect("list")
        .records()
        .map(|r| {
            r.expect("whole row")
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|r| r[0].eq_ignore_ascii_case(email))
        .collect()
}

/// The one-click URL of `email` from a dry-run's .eml files.
pub fn unsubscribe_url(p: &Project, preview: &str, email: &str) -> String {
    let file = email.replace('@', "_");
    let eml = p
        .files_in(preview)
        .into_iter()
        .find(|f| f.ends_with(&format!("-{file}.eml")))
        .unwrap_or_else(|| panic!("no .eml for {email}"));
    let raw = p.read(&format!("{preview}/{eml}"));
    let header = raw
        .replace("\r\n ", " ")
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: ").map(str::to_owned))
        .expect("List-Unsubscribe");
    header[1..header.find('>').expect("<url>")].to_owned()
}

#[test]
fn sign_up_confirm_and_one_click_unsubscribe_over_real_http() {
    let Setup { served, p, sink } = started("");
    let base = &served.base;
    let http = client();

    let (status, page) = text(http.get(format!("{base}/healthz")).send().expect("get"));
    assert_eq!((status, page.as_str()), (200, "ok"));
    let (status, page) = text(http.get(format!("{base}/subscribe")).send().expect("get"));
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\"") && page.contains("name=\"email\""));

    // Urlencoded sign-up: a pending row, a confirmation mail.
    let (status, page) = text(
        http.post(format!("{base}/subscribe"))
            .form(&[("email", "New.Reader@Example.org"), ("name", "New Reader")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Check your inbox"));
    let rows = rows_of(&p, "new.reader@example.org");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0][1].as_str(), rows[0][2].as_str()),
        ("New Reader", "pending")
    );
    let link = wait_for_mail(&sink, "New.Reader@example.org", 1).remove(0);
    assert!(link.starts_with(&format!("{base}/confirm/")), "{link}");

    // Pending readers get no issue.
    p.dry_run("before").success().stdout_has("1 pending");

    // GET shows a button and changes nothing; POST confirms.
    let before = p.read(LIST);
    let (status, page) = text(http.get(&link).send().expect("get"));
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\"") && page.contains("Confirm"));
    assert_eq!(p.read(LIST), before, "a GET changed the list");
    let (status, page) = text(http.post(&link).send().expect("post"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are subscribed"));
    let rows = rows_of(&p, "new.reader@example.org");
    assert_eq!(rows.last().expect("row")[2], "subscribed");
    p.dry_run("after").success().stdout_has("recipients:   5");

    // The same address again: the same answer, no row, no mail.
    let before = p.read(LIST);
    let mails = dumped(&sink).len();
    let form = multipart::Form::new().text("email", "new.reader@example.org");
    let (status, page) = text(
        http.post(format!("{base}/subscribe"))
            .multipart(form)
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.read(LIST), before);
    assert_eq!(dumped(&sink).len(), mails);

    // Multipart sign-up of someone new works the same.
    let form = multipart::Form::new()
        .text("email", "multi@example.org")
        .text("name", "Multi Part");
    let (status, _) = text(
        http.post(format!("{base}/subscribe"))
            .multipart(form)
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200);
    assert_eq!(rows_of(&p, "multi@example.org")[0][2], "pending");

    // One-click unsubscribe from a real message's header: GET changes
    // nothing; POST (urlencoded, then multipart) answers 200, never a
    // redirect, and the second time too.
    p.dry_run("preview").success();
    let url = unsubscribe_url(&p, "preview", "alice@example.org");
    assert!(url.starts_with(&format!("{base}/unsubscribe/")), "{url}");
    let before = p.read(LIST);
    let (status, page) = text(http.get(&url).send().expect("get"));
    assert_eq!(status, 200);
    assert!(page.contains("Unsubscribe") && page.contains("One-Click"));
    assert_eq!(p.read(LIST), before);
    let r = http
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none() && r.headers().get("set-cookie").is_none());
    assert!(r.text().expect("body").contains("You are unsubscribed"));
    assert_eq!(
        rows_of(&p, "alice@example.org").last().expect("row")[2],
        "unsubscribed"
    );
    let form = multipart::Form::new().text("List-Unsubscribe", "One-Click");
    let (status, _) = text(http.post(&url).multipart(form).send().expect("post"));
    assert_eq!(status, 200, "twice is fine");
    let bob = unsubscribe_url(&p, "preview", "bob@example.org");
    let form = multipart::Form::new().text("List-Unsubscribe", "One-Click");
    assert_eq!(
        http.post(&bob)
            .multipart(form)
            .send()
            .expect("post")
            .status(),
        200
    );
    assert_eq!(
        rows_of(&p, "bob@example.org").last().expect("row")[2],
        "unsubscribed"
    );
    p.dry_run("last").success().stdout_has("recipients:   3");

    let (status, _) = text(http.get(format!("{base}/nothing")).send().expect("get"));
    assert_eq!(status, 404);
}

/// Every bad input: a 4xx page that says what is wrong, and the list byte
/// for byte as it was.
#[test]
fn bad_input_gets_a_4xx_page_and_leaves_the_list_untouched() {
    let Setup { served, p, sink } = started("subscribe_limit_per_minute = 100");
    let port = served.port;
    let base = &served.base;
    let http = client();
    let before = p.read(LIST);
    let subscribe = |fields: &[(&str, &str)]| {
        text(
            http.post(format!("{base}/subscribe"))
                .form(fields)
                .send()
                .expect("post"),
        )
    };
    let cases: Vec<(&str, (u16, String), &str)> = vec![
        (
            "bad address",
            subscribe(&[("email", "not-an-address")]),
            "not an email address",
        ),
        (
            "no address",
            subscribe(&[("name", "Nobody")]),
            "not an email address",
        ),
        (
            "CR/LF in the name",
            subscribe(&[
                ("email", "x@example.org"),
                ("name", "Evil\r\nBcc: all@example.org"),
            ]),
            "line breaks",
        ),
        (
            "a control character",
            subscribe(&[("email", "x@example.org"), ("name", "Bell\u{7}")]),
            "control characters",
        ),
        (
            "over 64 KB",
            subscribe(&[("email", "big@example.org"), ("name", &"x".repeat(70_000))]),
            "larger than 64 KB",
        ),
        (
            "not a form",
            text(
                http.post(format!("{base}/subscribe"))
                    .header("content-type", "application/json")
                    .body("{\"email\":\"j@example.org\"}")
                    .send()
                    .expect("post"),
            ),
            "x-www-form-urlencoded",
        ),
        (
            "forged unsubscribe token",
            text(
                http.post(format!(
                    "{base}/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                ))
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .expect("post"),
            ),
            "not valid",
        ),
        (
            "forged confirmation token",
            text(
                http.post(format!("{base}/confirm/Zm9yZ2VkLXRva2VuLXRoYXQtaXMtbG9uZw"))
                    .send()
                    .expect("post"),
            ),
            "not valid",
        ),
    ];
    for (what, (status, page), says) in &cases {
        assert!((400..500).contains(status), "{what}: {status}");
        assert!(page.contains(says), "{what}: {page}");
        assert!(page.contains("<!DOCTYPE html>"), "{what}: not a page");
    }
    assert_eq!(cases[4].1.0, 413);
    // The honeypot: told what a person is told; nothing written or sent.
    let (status, page) = subscribe(&[("email", "bot@example.org"), ("website", "http://spam")]);
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.read(LIST), before, "the list changed");
    assert!(dumped(&sink).is_empty(), "mail was sent");

    // An expired confirmation: signed up 8 days before the server's now.
    drop(served);
    let earlier = (PINNED_EPOCH.parse::<u64>().expect("epoch") - 8 * 86_400).to_string();
    let served = Served::start(&p, port, &earlier);
    let (status, _) = text(
        http.post(format!("{}/subscribe", served.base))
            .form(&[("email", "late@example.org")])
            .send()
            .expect("post"),
    );
    assert_eq!(status, 200);
    let link = wait_for_mail(&sink, "late@example.org", 1).remove(0);
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    let before = p.read(LIST);
    for response in [http.get(&link).send(), http.post(&link).send()] {
        let (status, page) = text(response.expect("request"));
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("expired"));
    }
    assert_eq!(p.read(LIST), before);
    drop(served);
}

#[test]
fn sign_ups_over_the_limit_per_address_get_429() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(
        port,
        &sink,
        "subscribe_limit_per_minute = 3\ntrusted_proxy = \"127.0.0.1\"",
    );
    let served = Served::start(&p, port, PINNED_EPOCH);
    let http = client();
    let post = |i: usize, forwarded: &str| {
        http.post(format!("{}/subscribe", served.base))
            .header("x-forwarded-for", forwarded)
            .form(&[("email", format!("n{i}@example.org"))])
            .send()
            .expect("post")
            .status()
            .as_u16()
    };
    let from_a: Vec<u16> = (0..4).map(|i| post(i, "203.0.113.1")).collect();
    assert_eq!(from_a, vec![200, 200, 200, 429]);
    // Behind the trusted proxy another client has its own budget.
    assert_eq!(post(10, "203.0.113.2"), 200);
    assert_eq!(
        rows_of(&p, "n3@example.org").len(),
        0,
        "the refused one wrote nothing"
    );
}

/// The end-to-end path with curl: a link out of a dry-run's header, the
/// POST a mailbox provider makes.
#[test]
fn curl_one_click_with_a_real_messages_link_and_a_cli_change_is_seen() {
    let Setup {
        served,
        p,
        sink: _sink,
    } = started("");
    p.dry_run("preview").success();
    let url = unsubscribe_url(&p, "preview", "zoe@example.org");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-X",
            "POST",
        ])
        .args(["-d", "List-Unsubscribe=One-Click", &url])
        .output()
        .expect("curl must be installed (scripts/install-test-deps)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200");
    assert_eq!(
        rows_of(&p, "zoe@example.org").last().expect("row")[2],
        "unsubscribed"
    );

    // A reader the CLI adds while the server runs is seen: signing up
    // again writes nothing.
    p.bulletin(&["subscribe", "cli@example.org"]).success();
    let before = p.read(LIST);
    let status = client()
        .post(format!("{}/subscribe", served.base))
        .form(&[("email", "cli@example.org")])
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);
    assert_eq!(p.read(LIST), before);
    // And a rewrite by the CLI (an import) too.
    p.write("more.csv", "email\nimported@example.org\n");
    p.bulletin(&["subscribe", "--from", "more.csv"]).success();
    let before = p.read(LIST);
    client()
        .post(format!("{}/subscribe", served.base))
        .form(&[("email", "imported@example.org")])
        .send()
        .expect("post");
    assert_eq!(p.read(LIST), before);
}

#[test]
fn two_hundred_parallel_sign_ups_leave_two_hundred_whole_pending_rows() {
    let Setup {
        served,
        p,
        sink: _sink,
    } = started("subscribe_limit_per_minute = 1000");
    let base = served.base.clone();
    post_in_parallel(
        (0..200)
            .map(|i| {
                let form = vec![
                    ("email".to_owned(), format!("p{i}@example.org")),
                    ("name".to_owned(), format!("P {i}")),
                ];
                (format!("{base}/subscribe"), form)
            })
            .collect(),
    );
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .from_path(p.path(LIST))
        .expect("list")
        .records()
        .map(|r| {
            r.expect("every row whole")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let pending: Vec<_> = rows.iter().filter(|r| r[2] == "pending").collect();
    assert_eq!(pending.len(), 200);
    for i in 0..200 {
        let email = format!("p{i}@example.org");
        assert_eq!(
            pending.iter().filter(|r| r[0] == email).count(),
            1,
            "{email}"
        );
    }
    assert!(p.read(LIST).ends_with('\n'));
}

/// 200 one-click POSTs while a send of 5,000 runs: every one recorded, the
/// send unharmed, and none of those readers mailed once their POST had
/// returned (the send checks the list before each reader's turn).
#[test]
fn one_click_posts_during_a_send_are_honoured_before_each_readers_turn() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    p.with_readers(5000);
    p.edit(
        "config.toml",
        "[sending]\n",
        "[sending]\nconcurrency = 4\nrate = 1000\n",
    );
    p.dry_run("preview")
        .success()
        .stdout_has("recipients:   5000");
    let leaving: Vec<String> = (4800..5000).map(|i| format!("r{i}@example.org")).collect();
    let urls: Vec<String> = leaving
        .iter()
        .map(|e| unsubscribe_url(&p, "preview", e))
        .collect();
    let served = Served::start(&p, port, PINNED_EPOCH);
    let send = p
        .command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send");
    // Once the send is under way...
    let start = Instant::now();
    while sink.received().len() < 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the send did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let one_click = vec![("List-Unsubscribe".to_owned(), "One-Click".to_owned())];
    post_in_parallel(urls.into_iter().map(|u| (u, one_click.clone())).collect());
    // ...and all 200 returned before the send reached any of them (else
    // this test proves nothing: slow the send down).
    let reached = log_sending(&p);
    assert!(
        leaving.iter().all(|e| !reached.contains(e)),
        "the send reached the leaving readers before their POSTs returned"
    );
    let out = send.wait_with_output().expect("send");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("left during the send, not mailed: 200"),
        "{stdout}"
    );
    let got = sink.settled();
    assert_eq!(got.len(), 4800);
    assert!(got.iter().all(|r| !leaving.contains(&r.rcpt)));
    let reached = log_sending(&p);
    assert!(leaving.iter().all(|e| !reached.contains(e)));
    for e in &leaving {
        assert_eq!(
            rows_of(&p, e).last().expect("row")[2],
            "unsubscribed",
            "{e}"
        );
    }
    drop(served);
}

/// The addresses with a `sending` row in the delivery log so far.
fn log_sending(p: &Project) -> std::collections::HashSet<String> {
    let bytes = std::fs::read(p.path("logs/2022-08-01.csv")).unwrap_or_default();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() > 2 && f[2] == "sending").then(|| f[1].to_owned())
        })
        .collect()
}

fn chromium(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .output()
        .expect("chromium must be installed (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How wide `page` (a file in `dir`) lays out in a frame `width` px wide,
/// and how much text it shows, as headless Chromium renders it (which
/// will not make a window narrower than 500 px: hence the frame, measured
/// from outside).
pub fn laid_out(dir: &Path, page: &str, width: u32) -> (u32, u32) {
    let frame = dir.join(format!("frame-{width}.html"));
    std::fs::write(
        &frame,
        format!(
            "<!doctype html><html><body style=\"margin:0\"><iframe id=\"f\" src=\"{page}\" \
             style=\"width:{width}px;height:800px;border:0\"></iframe><script>\
             document.getElementById('f').onload = function () {{ \
             var d = this.contentDocument; \
             document.body.setAttribute('data-scroll-width', d.documentElement.scrollWidth); \
             document.body.setAttribute('data-text', d.body.innerText.length); }};\
             </script></body></html>"
        ),
    )
    .expect("frame");
    // The browser's profile elsewhere: `dir` may be the site itself.
    let profile = tempfile::tempdir().expect("dir");
    let dom = chromium(
        profile.path(),
        &[
            "--allow-file-access-from-files",
            "--dump-dom",
            &format!("file://{}", frame.display()),
        ],
    );
    std::fs::remove_file(&frame).expect("rm");
    let attr = |name: &str| -> u32 {
        dom.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{page} at {width}: no {name} in {dom}"))
    };
    (attr("data-scroll-width"), attr("data-text"))
}

/// A page that posts `form_html` at once, as a browser does when its
/// button is pressed.
fn posting_page(dir: &Path, name: &str, form_html: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("<!doctype html><html><body>{form_html}<script>document.forms[0].submit()</script></body></html>"),
    )
    .expect("write");
    format!("file://{}", path.display())
}

/// A real browser: headless Chromium loads the sign-up and unsubscribe
/// pages (and a screenshot, kept in a temporary folder, not the repo),
/// and posts their forms, and the embeddable form from another site.
#[test]
fn a_real_browser_loads_the_pages_and_posts_their_forms() {
    let Setup {
        served,
        p,
        sink: _sink,
    } = started("");
    let base = &served.base;
    let tmp = tempfile::tempdir().expect("dir");

    let dom = chromium(tmp.path(), &["--dump-dom", &format!("{base}/subscribe")]);
    assert!(dom.contains("<form method=\"post\">"), "{dom}");
    for field in ["name=\"email\"", "name=\"name\"", "name=\"website\""] {
        assert!(dom.contains(field), "{field}: {dom}");
    }
    let shot = tmp.path().join("subscribe.png");
    chromium(
        tmp.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=600,900",
            &format!("{base}/subscribe"),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2000);

    // The page's own form, filled and submitted to the page's address.
    let form = dom[dom.find("<form").expect("form")..dom.find("</form>").expect("end") + 7]
        .replace(
            "<form method=\"post\">",
            &format!("<form method=\"post\" action=\"{base}/subscribe\">"),
        )
        .replace(
            "name=\"email\"",
            "name=\"email\" value=\"browser@example.org\"",
        );
    let after = chromium(
        tmp.path(),
        &["--dump-dom", &posting_page(tmp.path(), "own.html", &form)],
    );
    assert!(after.contains("Check your inbox"), "{after}");
    assert_eq!(rows_of(&p, "browser@example.org")[0][2], "pending");

    // The embeddable form on the newsletter's own site (README).
    let embedded = format!(
        "<form method=\"post\" action=\"{base}/subscribe\"><input type=\"email\" name=\"email\" value=\"site@example.org\"><input name=\"name\" value=\"From The Site\"><button>Subscribe</button></form>"
    );
    let after = chromium(
        tmp.path(),
        &[
            "--dump-dom",
            &posting_page(tmp.path(), "site.html", &embedded),
        ],
    );
    assert!(after.contains("Check your inbox"), "{after}");
    assert_eq!(rows_of(&p, "site@example.org")[0][1], "From The Site");

    // The unsubscribe page: a browser's GET changes nothing; its button posts.
    p.dry_run("preview").success();
    let url = unsubscribe_url(&p, "preview", "dana@example.org");
    let before = p.read(LIST);
    let dom = chromium(tmp.path(), &["--dump-dom", &url]);
    assert_eq!(p.read(LIST), before, "a browser's GET changed the list");
    assert!(
        dom.contains("name=\"List-Unsubscribe\" value=\"One-Click\""),
        "{dom}"
    );
    let form = dom[dom.find("<form").expect("form")..dom.find("</form>").expect("end") + 7]
        .replace(
            "<form method=\"post\">",
            &format!("<form method=\"post\" action=\"{url}\">"),
        );
    let after = chromium(
        tmp.path(),
        &["--dump-dom", &posting_page(tmp.path(), "unsub.html", &form)],
    );
    assert!(after.contains("You are unsubscribed"), "{after}");
    assert_eq!(
        rows_of(&p, "dana@example.org").last().expect("row")[2],
        "unsubscribed"
    );
}

#[test]
fn check_warns_when_the_unsubscribe_links_do_not_point_at_the_server() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    let clean = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    assert!(!clean.stderr.contains("bulletin serve"), "{}", clean.stderr);
    p.edit(
        "config.toml",
        &format!("http://127.0.0.1:{port}/unsubscribe/"),
        "https://elsewhere.example.org/u/",
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .stderr_has("but `bulletin serve` answers");
}

#[test]
fn compact_folds_the_history_and_drops_expired_sign_ups() {
    let p = Project::sample();
    p.write(
        LIST,
        "email,name,status,changed\n\
         ann@example.org,Ann,,\n\
         bob@example.org,Bob,,\n\
         ann@example.org,,unsubscribed,2022-07-01T00:00:00Z\n\
         old@example.org,Old,pending,2022-07-01T00:00:00Z\n\
         new@example.org,New,pending,2022-07-30T00:00:00Z\n\
         bob@example.org,,unsubscribed,2022-07-02T00:00:00Z\n\
         bob@example.org,,subscribed,2022-07-03T00:00:00Z\n",
    );
    // SOURCE_DATE_EPOCH is 2022-08-01: `old` is past the 7 days, `new` not.
    p.bulletin(&["list", "--compact"])
        .success()
        .stdout_has("3 readers, one row each; 3 older rows folded in, 1 unconfirmed sign-up past their expiry dropped");
    assert_eq!(
        p.read(LIST),
        "email,name,status,changed\n\
         ann@example.org,Ann,unsubscribed,2022-07-01T00:00:00Z\n\
         bob@example.org,Bob,subscribed,2022-07-03T00:00:00Z\n\
         new@example.org,New,pending,2022-07-30T00:00:00Z\n"
    );
    p.bulletin(&["list"])
        .success()
        .stdout_has("1 subscribed, 1 unsubscribed, 1 pending, 0 invalid");
}

/// Every page fits a 360 px phone screen: Chromium at that width lays it
/// out with no horizontal scroll. And they are keyboard and screen-reader
/// friendly: a language, a label for each input, a visible focus ring.
#[test]
fn the_pages_fit_a_phone_and_say_what_each_field_is() {
    let Setup {
        served,
        p,
        sink: _sink,
    } = started("");
    let base = &served.base;
    let tmp = tempfile::tempdir().expect("dir");
    p.dry_run("preview").success();
    let pages = [
        format!("{base}/subscribe"),
        unsubscribe_url(&p, "preview", "dana@example.org"),
        format!("{base}/confirm/not-a-token"),
        format!("{base}/nothing-here"),
    ];
    for (i, url) in pages.iter().enumerate() {
        let html = client().get(url).send().expect("get").text().expect("body");
        assert!(html.contains("<html lang=\"en\">"), "{url}");
        assert!(html.contains(":focus-visible"), "{url}");
        for input in html.split("<input").skip(1) {
            let id = input
                .split("id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            if let Some(id) = id {
                assert!(
                    html.contains(&format!("<label for=\"{id}\"")),
                    "{url}: {id}"
                );
            }
        }
        std::fs::write(tmp.path().join(format!("page{i}.html")), &html).expect("write");
        let (width, _) = laid_out(tmp.path(), &format!("page{i}.html"), 360);
        assert!(width <= 360, "{url} lays out {width} px wide at 360");
    }
}
