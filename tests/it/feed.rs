//! `bulletin draft --from-feed`: RSS, Atom and JSON Feed served by a small
//! HTTP server of the test's own (tests/support/feed_server.py), drafts
//! checked by `bulletin check`, conditional requests, errors, the size
//! cap, `--send` through smtp-sink, and a kill between writing and sending.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{Silent, SmtpSink};
use crate::util::{Project, repo_root};

/// tests/support/feed_server.py serving a copy of the feed fixtures.
struct FeedServer {
    port: u16,
    root: tempfile::TempDir,
    child: Child,
}

impl FeedServer {
    fn start() -> Self {
        let root = tempfile::tempdir().expect("dir");
        for entry in std::fs::read_dir(repo_root().join("tests/fixtures/feeds")).expect("fixtures")
        {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name");
            std::fs::copy(&path, root.path().join(name)).expect("copy fixture");
        }
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/support/feed_server.py"))
            .arg(root.path())
            .arg(root.path().join("requests.log"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the feed server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the port");
        let port = line.trim().parse().expect("a port number");
        Self { port, root, child }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn serve(&self, name: &str, text: &str) {
        std::fs::write(self.root.path().join(name), text).expect("write feed");
    }

    /// Each request the server answered, oldest first.
    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.root.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The drafts in the project's issues/ (the sample issue left out).
fn drafts(p: &Project) -> Vec<String> {
    p.files_in("issues")
        .into_iter()
        .filter(|n| n != "2022-08-01.toml")
        .collect()
}

fn state(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read("feed-state.json")).expect("state json")
}

fn done_ids(p: &Project, url: &str) -> Vec<String> {
    state(p)["feeds"][url]["done"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rss_atom_and_json_feed_each_become_a_draft_that_passes_check() {
    let server = FeedServer::start();
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "rss.xml",
            &["Ferry timetable & fares", "Harbour lights return"],
            &[
                "https://blog.example.org/gallery/lights",
                "https://blog.example.org/img/lights.jpg",
                "link = \"https://blog.example.org/2022/07/harbour-lights\"",
            ],
        ),
        (
            "atom.xml",
            &["Library opens late", "Market day"],
            &[
                "[Hours](https://atom.example.org/news/hours.html)",
                "in the square",
            ],
        ),
        (
            "feed.json",
            &["Community garden", "Choir practice"],
            &[
                "[Sign up](https://json.example.org/signup)",
                "Tuesdays at seven.",
            ],
        ),
    ];
    for (name, headlines, present) in cases {
        let p = Project::sample();
        let url = server.url(name);
        p.bulletin(&["draft", "--from-feed", &url])
            .success()
            .stdout_has("Wrote issues/2022-08-01-2.toml: 2 stories");
        assert_eq!(drafts(&p), ["2022-08-01-2.toml"], "{name}");
        let text = p.read("issues/2022-08-01-2.toml");
        let issue: toml::Value = toml::from_str(&text).expect("TOML");
        let got: Vec<&str> = issue["story"]
            .as_array()
            .expect("stories")
            .iter()
            .map(|s| s["headline"].as_str().expect("headline"))
            .collect();
        assert_eq!(got, headlines, "{name}: newest first");
        for needle in present {
            assert!(text.contains(needle), "{name}: no {needle:?} in\n{text}");
        }
        for banned in [
            "<script",
            "tracker",
            "steal()",
            "bad()",
            "color: red",
            "javascript:",
        ] {
            assert!(!text.contains(banned), "{name}: {banned:?} kept in\n{text}");
        }
        p.bulletin(&["check", "--issue", "issues/2022-08-01-2.toml"])
            .success();
        assert_eq!(done_ids(&p, &url).len(), 2, "{name}");
    }
}

#[test]
fn a_second_run_asks_conditionally_and_drafts_only_the_new_entry() {
    let server = FeedServer::start();
    let p = Project::sample();
    let url = server.url("rss.xml");
    p.bulletin(&["draft", "--from-feed", &url]).success();
    // Unchanged: the server's ETag sent back, a 304, nothing written.
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("nothing new");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0]["if_none_match"].is_null());
    assert!(
        requests[1]["if_none_match"]
            .as_str()
            .is_some_and(|e| e.starts_with('"'))
    );
    assert!(requests[1]["if_modified_since"].is_string());
    assert_eq!(requests[1]["status"], 304);
    assert_eq!(drafts(&p), ["2022-08-01-2.toml"]);

    // One entry more: a one-story draft beside the first.
    let feed = std::fs::read_to_string(repo_root().join("tests/fixtures/feeds/rss.xml"))
        .expect("fixture")
        .replacen(
            "    <item>",
            "    <item>\n      <title>Bridge reopens</title>\n      <link>/2022/08/bridge</link>\n      <guid>rss-bridge</guid>\n      <description>Both lanes.</description>\n    </item>\n    <item>",
            1,
        );
    server.serve("rss.xml", &feed);
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("Wrote issues/2022-08-01-3.toml: 1 story");
    let text = p.read("issues/2022-08-01-3.toml");
    assert!(text.contains("headline = \"Bridge reopens\""), "{text}");
    assert!(
        text.contains("https://blog.example.org/2022/08/bridge"),
        "{text}"
    );
    assert!(!text.contains("Harbour"), "{text}");
    assert_eq!(done_ids(&p, &url).len(), 3);

    // And a feed unchanged with no validators (a file) is nothing new too.
    let file = server.root.path().join("rss.xml");
    let file = file.to_str().expect("utf-8");
    p.bulletin(&["draft", "--from-feed", file]).success();
    p.bulletin(&["draft", "--from-feed", file])
        .success()
        .stdout_has("nothing new");
    assert_eq!(drafts(&p).len(), 3);
}

#[test]
fn a_feed_that_cannot_be_read_is_an_error_and_nothing_is_written() {
    let server = FeedServer::start();
    let p = Project::sample();
    p.bulletin(&["draft", "--from-feed", &server.url("gone.xml")])
        .failure()
        .stderr_has("/gone.xml: the server answered HTTP 404 Not Found");
    p.bulletin(&["draft", "--from-feed", &server.url("malformed.xml")])
        .failure()
        .stderr_has("/malformed.xml:6: not well-formed XML");
    let started = Instant::now();
    p.bulletin(&["draft", "--from-feed", &server.url("huge")])
        .failure()
        .stderr_has("over the 10 MiB a feed may be; refused");
    assert!(started.elapsed() < Duration::from_secs(20));
    // Nobody listening.
    let closed = format!("http://127.0.0.1:{}/feed.xml", crate::servers::free_port());
    p.bulletin_with(
        &["draft", "--from-feed", &closed],
        &[("BULLETIN_FEED_TIMEOUT_SECS", "3")],
    )
    .failure()
    .stderr_has("cannot connect");
    assert!(drafts(&p).is_empty());
    assert!(!p.path("feed-state.json").exists());
}

#[test]
fn feed_settings_are_checked_at_their_config_line() {
    let p = Project::sample();
    let config = p.read("config.toml");
    let line = config.lines().count() + 4;
    p.write(
        "config.toml",
        format!("{config}\n[feed]\nsubject = \"{{{{ count }}}} new\"\nmax_items = 0\n"),
    );
    p.bulletin(&["draft", "--from-feed", "nowhere.xml"])
        .failure()
        .stderr_has(&format!(
            "config.toml:{line}: [feed] `max_items` is 0, but must be 1 to 100"
        ));
    p.edit(
        "config.toml",
        "max_items = 0",
        "max_items = 1\nurl = \"feed.xml\"",
    );
    p.write(
        "feed.xml",
        std::fs::read(repo_root().join("tests/fixtures/feeds/rss.xml")).expect("fixture"),
    );
    // [feed] url is the default; max_items takes the newest one only, and
    // the subject template is filled in.
    p.bulletin(&["draft"]).success().stdout_has("1 story");
    let text = p.read("issues/2022-08-01-2.toml");
    assert!(text.contains("subject = \"1 new\""), "{text}");
    assert!(
        text.contains("Ferry") && !text.contains("Harbour"),
        "{text}"
    );
    p.bulletin(&["draft"]).success().stdout_has("1 story");
    assert!(p.read("issues/2022-08-01-3.toml").contains("Harbour"));
}

/// Readers the sample list mails: those `check` counts as to send.
fn due_readers(p: &Project) -> usize {
    let out = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .find_map(|l| l.split(": ").nth(1)?.strip_suffix(" to send, 1 skipped"))
        .and_then(|n| n.parse().ok())
        .expect("check says how many are due")
}

#[test]
fn send_yes_checks_and_sends_the_draft_through_smtp_sink() {
    let server = FeedServer::start();
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    let due = due_readers(&p);
    let url = server.url("atom.xml");
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .success()
        .stdout_has("Wrote issues/2022-08-01-2.toml: 2 stories");
    let received = sink.settled();
    assert_eq!(received.len(), due, "{received:?}");
    assert_eq!(done_ids(&p, &url).len(), 2);
    assert!(state(&p)["feeds"][&url]["pending"].is_null());
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .success()
        .stdout_has("nothing new");
    assert_eq!(sink.settled().len(), due);
}

#[test]
fn a_crash_between_writing_and_sending_sends_that_draft_once_and_drafts_nothing_twice() {
    let server = FeedServer::start();
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    let due = due_readers(&p);
    let url = server.url("feed.json");
    // Stopped dead once the draft is written, before anything is sent.
    let crashed = p.bulletin_with(
        &["draft", "--from-feed", &url, "--send", "--yes"],
        &[("BULLETIN_FEED_TEST_CRASH_BEFORE_SEND", "1")],
    );
    assert_ne!(crashed.code, Some(0), "{crashed:?}");
    assert_eq!(drafts(&p), ["2022-08-01-2.toml"]);
    assert!(sink.settled().is_empty());
    assert!(done_ids(&p, &url).is_empty(), "marked before it was sent");

    // A run without --send neither drafts those entries again nor sends.
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("nothing new")
        .stderr_has("was drafted for sending and not sent to everyone");
    assert!(sink.settled().is_empty());

    // With --send: that draft is sent first, then nothing is new.
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .success()
        .stdout_has("was drafted and not sent to everyone yet: sending it first")
        .stdout_has("nothing new");
    assert_eq!(drafts(&p), ["2022-08-01-2.toml"]);
    let received = sink.settled();
    let mut readers: Vec<&str> = received.iter().map(|r| r.rcpt.as_str()).collect();
    readers.dedup();
    assert_eq!(readers.len(), due, "{received:?}");
    assert_eq!(received.len(), due, "someone got it twice: {received:?}");
    assert_eq!(done_ids(&p, &url).len(), 2);
    assert!(state(&p)["feeds"][&url]["pending"].is_null());
}

#[test]
fn a_kill_mid_send_resumes_that_draft_and_never_drafts_it_again() {
    let server = FeedServer::start();
    let silent = Silent::start();
    let p = Project::sample();
    p.with_server(silent.port, "", "");
    let due = due_readers(&p);
    let url = server.url("rss.xml");
    // The relay never answers: the draft is written, the send hangs.
    let mut child = p
        .command(&["draft", "--from-feed", &url, "--send", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bulletin");
    let started = Instant::now();
    while !p.path("issues/2022-08-01-2.toml").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no draft written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert!(done_ids(&p, &url).is_empty(), "marked before it was sent");

    let sink = SmtpSink::start(&[]);
    p.edit(
        "config.toml",
        &format!("port = {}", silent.port),
        &format!("port = {}", sink.port),
    );
    // The send resumes from its delivery log (whoever may have got it is
    // not mailed again without --resend-unknown); no second draft.
    let resumed = p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"]);
    resumed.stdout_has("was drafted and not sent to everyone yet: sending it first");
    assert_eq!(drafts(&p), ["2022-08-01-2.toml"]);
    let received = sink.settled();
    let mut readers: Vec<&str> = received.iter().map(|r| r.rcpt.as_str()).collect();
    readers.sort_unstable();
    readers.dedup();
    assert_eq!(readers.len(), received.len(), "someone got it twice");
    // Whoever the killed run had handed to the silent relay is unknown (not
    // mailed again without --resend-unknown, so the run reports a problem);
    // every other reader has it now.
    let unknown = p
        .log_rows_of("logs/2022-08-01-2.csv")
        .iter()
        .filter(|r| r.status == "unknown")
        .count();
    assert_eq!(received.len() + unknown, due, "{received:?}");
    assert_eq!(resumed.code == Some(0), unknown == 0, "{resumed:?}");
    assert_eq!(done_ids(&p, &url).len(), 2);
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .success()
        .stdout_has("nothing new");
    assert_eq!(drafts(&p), ["2022-08-01-2.toml"]);
}

#[test]
fn a_draft_with_readers_deferred_stays_pending_and_the_next_run_sends_them_first() {
    let server = FeedServer::start();
    let busy = SmtpSink::start(&["-r", "RCPT", "-b", "451 4.7.1 Try again later"]);
    let p = Project::sample();
    p.with_server(busy.port, "", "max_attempts = 1\nretry_delay = 0.01\n");
    let due = due_readers(&p);
    let url = server.url("atom.xml");
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .failure()
        .stderr_has(&format!("{due} readers are still due for"));
    assert!(busy.received().is_empty());
    assert!(done_ids(&p, &url).is_empty(), "done with nobody mailed");
    assert_eq!(state(&p)["feeds"][&url]["pending"][0]["written"], true);

    // The relay takes mail again, and the feed has one entry more: the
    // deferred draft goes first, then the new entry is drafted and sent.
    let sink = SmtpSink::start(&[]);
    p.edit(
        "config.toml",
        &format!("port = {}", busy.port),
        &format!("port = {}", sink.port),
    );
    let feed = std::fs::read_to_string(repo_root().join("tests/fixtures/feeds/atom.xml"))
        .expect("fixture")
        .replacen(
            "<entry>",
            "<entry><id>urn:new</id><title>Night market</title><updated>2022-08-05T08:00:00Z</updated><link href=\"https://blog.example.org/night\"/><summary>Stalls till late.</summary></entry>\n<entry>",
            1,
        );
    server.serve("atom.xml", &feed);
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .success()
        .stdout_has("sending it first")
        .stdout_has("Wrote issues/2022-08-01-3.toml: 1 story");
    let received = sink.settled();
    assert_eq!(received.len(), 2 * due, "{received:?}");
    assert_eq!(done_ids(&p, &url).len(), 3);
    assert!(state(&p)["feeds"][&url]["pending"].is_null());
}

#[test]
fn a_draft_deferred_for_a_week_is_let_go_and_its_readers_stay_due() {
    let server = FeedServer::start();
    let busy = SmtpSink::start(&["-r", "RCPT", "-b", "451 4.7.1 Try again later"]);
    let p = Project::sample();
    p.with_server(busy.port, "", "max_attempts = 1\nretry_delay = 0.01\n");
    let due = due_readers(&p);
    let url = server.url("atom.xml");
    p.bulletin(&["draft", "--from-feed", &url, "--send", "--yes"])
        .failure()
        .stderr_has(&format!("{due} readers are still due for"));
    let since = state(&p)["feeds"][&url]["pending"][0]["since"].as_u64();
    assert_eq!(
        since,
        Some(crate::util::PINNED_EPOCH.parse().expect("secs"))
    );
    // Six days on, still deferred: still pending, still exit 1.
    let later = |days: u64| (since.expect("since") + days * 86_400).to_string();
    p.bulletin_with(
        &["draft", "--from-feed", &url, "--send", "--yes"],
        &[("SOURCE_DATE_EPOCH", &later(6))],
    )
    .failure()
    .stdout_has("sending it first");
    assert!(state(&p)["feeds"][&url]["pending"].is_array());
    // A week on: let go, its entries done, its readers still due in the
    // log (nobody written off); the next run is quiet.
    p.bulletin_with(
        &["draft", "--from-feed", &url, "--send", "--yes"],
        &[("SOURCE_DATE_EPOCH", &later(7))],
    )
    .failure()
    .stderr_has("after 7 days of tries; the draft is let go");
    assert!(state(&p)["feeds"][&url]["pending"].is_null());
    assert_eq!(done_ids(&p, &url).len(), 2);
    let mut last = std::collections::BTreeMap::new();
    for row in p.log_rows_of("logs/2022-08-01-2.csv") {
        if !row.email.is_empty() {
            last.insert(row.email, row.status);
        }
    }
    assert_eq!(
        last.values().filter(|s| *s == "deferred").count(),
        due,
        "{last:?}"
    );
    p.bulletin_with(
        &["draft", "--from-feed", &url, "--send", "--yes"],
        &[("SOURCE_DATE_EPOCH", &later(8))],
    )
    .success()
    .stdout_has("nothing new");
    assert!(busy.received().is_empty());
}

#[test]
fn a_path_another_feeds_unwritten_draft_holds_is_not_taken() {
    let server = FeedServer::start();
    let p = Project::sample();
    // Feed A decided on `2022-08-01-2.toml` and stopped before writing it.
    let held = std::path::absolute(p.path("issues/2022-08-01-2.toml")).expect("absolute");
    let a = "https://other.example.org/feed.xml";
    p.write(
        "feed-state.json",
        serde_json::json!({
            "version": 1,
            "feeds": { a: { "pending": [
                { "path": held, "ids": ["urn:a"], "send": true, "written": false }
            ] } }
        })
        .to_string(),
    );
    // Feed B's draft goes elsewhere: A's next run must not find B's file
    // at its path and send it as its own.
    let b = server.url("atom.xml");
    p.bulletin(&["draft", "--from-feed", &b])
        .success()
        .stdout_has("Wrote issues/2022-08-01-3.toml");
    assert_eq!(drafts(&p), ["2022-08-01-3.toml"]);
    assert_eq!(state(&p)["feeds"][a]["pending"][0]["written"], false);
}

#[test]
fn entries_left_for_next_time_are_not_hidden_by_a_304() {
    let server = FeedServer::start();
    let p = Project::sample();
    let config = p.read("config.toml");
    p.write("config.toml", format!("{config}\n[feed]\nmax_items = 1\n"));
    let url = server.url("rss.xml");
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("the rest next time");
    // The feed is unchanged, but one entry is still to draft: the run asks
    // without validators (a 304 would hide it) and drafts it.
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("Wrote issues/2022-08-01-3.toml: 1 story");
    let requests = server.requests();
    assert!(requests[1]["if_none_match"].is_null(), "{requests:?}");
    assert_eq!(requests[1]["status"], 200);
    // Everything drafted: now the server's validators go back, and a 304.
    p.bulletin(&["draft", "--from-feed", &url])
        .success()
        .stdout_has("nothing new");
    assert_eq!(server.requests()[2]["status"], 304);
}
