//! The editor's console (issue 27): what `send --dry-run` says is what
//! `send` then does, reader by reader; checked against the log and against
//! what smtp-sink received.

use crate::servers::SmtpSink;
use crate::util::Project;
use crate::welcome::{WELCOME, write_welcome};

/// `recipients.csv` of a dry-run: (email, outcome, why) in list order.
fn fates(p: &Project, out: &str) -> Vec<(String, String, String)> {
    csv::Reader::from_path(p.path(&format!("{out}/recipients.csv")))
        .expect("recipients.csv")
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[1].to_owned(), r[2].to_owned(), r[3].to_owned())
        })
        .collect()
}

#[test]
fn the_dry_run_predicts_what_send_then_does() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(10).with_server(sink.port, "", "");
    p.send(&["--limit", "3"])
        .success()
        .stdout_has("sent:         3");
    // After a partial send: the 7 left, as `send` will count them.
    p.dry_run("before")
        .success()
        .stdout_has("recipients:   7")
        .stdout_has("sent before:  3");
    let before = fates(&p, "before");
    assert_eq!(before.len(), 10);
    let sent: Vec<&str> = before
        .iter()
        .filter(|(_, _, why)| why == "already sent")
        .map(|(e, _, _)| e.as_str())
        .collect();
    assert_eq!(sent, ["r0@example.org", "r1@example.org", "r2@example.org"]);
    let due: Vec<String> = before
        .iter()
        .filter(|(_, outcome, _)| outcome == "would get it")
        .map(|(e, _, _)| e.clone())
        .collect();
    assert_eq!(due.len(), 7);
    // `--limit` is predicted too.
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--dry-run",
        "--limit",
        "2",
    ])
    .success()
    .stdout_has("recipients:   2")
    .stdout_has("left:         5 (beyond --limit)");
    // The send mails exactly the readers the dry-run named.
    p.send(&[]).success().stdout_has("sent:         7");
    let mut got: Vec<String> = sink.settled().into_iter().map(|r| r.rcpt).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 10, "{got:?}");
    let mut later: Vec<String> = sink.settled().into_iter().skip(3).map(|r| r.rcpt).collect();
    later.sort();
    let mut predicted = due.clone();
    predicted.sort();
    assert_eq!(later, predicted);
    // After the whole send: nobody, as `send` says.
    p.dry_run("after")
        .success()
        .stdout_has("recipients:   0")
        .stdout_has("sent before:  10");
    p.send(&[]).success().stdout_has("Nothing to send");
    // An edited issue is refused by both, the same way.
    p.edit(
        "issues/2022-08-01.toml",
        "Both nations agreed",
        "Both countries agreed",
    );
    let refused = "the issue or config changed since";
    p.dry_run("edited").failure().stderr_has(refused);
    p.send(&[]).failure().stderr_has(refused);
}

#[test]
fn the_dry_run_refuses_the_welcome_issue_as_send_does() {
    let p = Project::sample();
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!(
            "{config}\n[serve]\npublic_url = \"http://127.0.0.1:9\"\nwelcome = \"{WELCOME}\"\n"
        ),
    );
    write_welcome(&p);
    let says = "this is the welcome issue";
    p.bulletin(&["send", "--issue", WELCOME, "--dry-run", "--out", "w"])
        .failure()
        .stderr_has(says);
    assert!(!p.path("w").exists());
    p.bulletin(&["send", "--issue", WELCOME, "--yes"])
        .failure()
        .stderr_has(says);
}

/// A run that reaches nobody says so first, with the cause and what is
/// still due, and exits non-zero.
#[test]
fn a_run_that_reaches_nobody_leads_with_it() {
    let port = crate::servers::free_port();
    let p = Project::sample();
    p.with_readers(10).with_server(port, "", "");
    let run = p.send(&[]);
    run.failure();
    let first = run
        .stdout
        .lines()
        .find(|l| !l.starts_with("Audience") && !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        first.starts_with("Stopped after 0 of 10: cannot connect to 127.0.0.1:")
            && first.contains("Still due: 10"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Tried «"), "{}", run.stdout);
}

/// `check` counts its warnings: "ok, 1 warning".
#[test]
fn check_counts_its_warnings() {
    let p = Project::sample();
    let list = p.read("subscribers.example.csv");
    p.write(
        "subscribers.example.csv",
        format!("{list}alice@example.org,Alice Again,,\n"),
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("listed earlier too")
        .stdout_has("ok, 1 warning (above)");
}

/// `check` warns about a username whose password is not in the
/// environment, and the starter config lists `allow_insecure`.
#[test]
fn check_warns_about_a_username_without_its_password() {
    let p = Project::sample();
    p.edit(
        "config.toml",
        "security = \"none\"\n",
        "security = \"none\"\nusername = \"news@example.org\"\nallow_insecure = true\n",
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("`username` is set but BULLETIN_SMTP_PASSWORD is not")
        .stdout_has("ok, 1 warning");
    p.bulletin_with(
        &["check", "--issue", "issues/2022-08-01.toml"],
        &[("BULLETIN_SMTP_PASSWORD", "s3cret")],
    )
    .success()
    .stdout_has("ok\n");
    let dir = tempfile::tempdir().expect("dir");
    let fresh = dir.path().join("news");
    p.bulletin(&["init", fresh.to_str().expect("utf-8")])
        .success();
    let starter = std::fs::read_to_string(fresh.join("config.toml")).expect("config");
    assert!(starter.contains("# allow_insecure = true"), "{starter}");
}

/// `bulletin list --all | head -1`: the reader of the pipe stops early,
/// and bulletin ends quietly (141, as after SIGPIPE), with no panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let p = Project::sample();
    p.with_readers(50_000);
    let mut child = p
        .command(&["list", "--all"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    assert!(first.starts_with("email\tname\tstatus"), "{first}");
    // The pipe's reading end is dropped here, as `head` exits.
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// `[newsletter] sender_id` adds Gmail's Feedback-ID to every message of
/// a real send (as smtp-sink received it), covered by the DKIM signature
/// that dkimpy verifies; a bad one is refused at its line.
#[test]
fn feedback_id_goes_out_signed() {
    use crate::compliance::{dkim_key, dkim_verify};
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    let (key, record) = dkim_key(&p.path("."), "rsa");
    p.write("record.txt", &record);
    p.with_dkim(&key).with_server(sink.port, "", "");
    p.edit(
        "config.toml",
        "list_id = ",
        "sender_id = \"alliance-1\"\nlist_id = ",
    );
    p.send(&[]).success().stdout_has("sent:         4");
    let mails = crate::serve::dumped(&sink);
    assert_eq!(mails.len(), 4);
    for mail in &mails {
        let raw = std::fs::read_to_string(mail).expect("mail");
        assert!(
            raw.contains("\nFeedback-ID: 2022-08-01:all:bulletin:alliance-1\r\n")
                || raw.contains("\nFeedback-ID: 2022-08-01:all:bulletin:alliance-1\n"),
            "{raw}"
        );
    }
    for v in dkim_verify(&p.path("record.txt"), &mails) {
        assert_eq!(v["ok"], true, "{v}");
        let sig = v["signature"].as_str().expect("sig");
        assert!(sig.contains("feedback-id:feedback-id"), "{sig}");
    }
    p.edit(
        "config.toml",
        "sender_id = \"alliance-1\"",
        "sender_id = \"a:b\"",
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("`sender_id` is 5 to 15");
}

/// `list` shows readers as they stand, filtered by status and tag, as
/// text or JSON; `--history` one reader's rows.
#[test]
fn list_shows_readers_as_they_stand() {
    let p = Project::sample();
    p.bulletin(&[
        "subscribe",
        "kim@example.org",
        "--name",
        "Kim",
        "--tag",
        "japan",
    ])
    .success();
    p.bulletin(&["unsubscribe", "bob@example.org"]).success();
    let all = p.bulletin(&["list", "--all"]);
    all.success();
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines[0], "email\tname\tstatus\ttags\tsince");
    // One line a reader, their latest details, however many rows.
    assert_eq!(lines.len(), 1 + 6, "{}", all.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("kim@example.org\tKim\tsubscribed\tjapan\t20")),
        "{}",
        all.stdout
    );
    p.bulletin(&["list", "--status", "unsubscribed"])
        .success()
        .stdout_has("bob@example.org\tBob Example\tunsubscribed")
        .stdout_has("erin@example.org");
    let json = p.bulletin(&["list", "--tag", "japan", "--json"]);
    json.success();
    let readers: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let readers = readers.as_array().expect("an array");
    assert_eq!(readers.len(), 1, "{readers:?}");
    assert_eq!(readers[0]["email"], "kim@example.org");
    assert_eq!(readers[0]["name"], "Kim");
    assert_eq!(readers[0]["status"], "subscribed");
    assert_eq!(readers[0]["tags"], "japan");
    assert!(
        readers[0]["since"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let history = p.bulletin(&["list", "--history", "bob@example.org"]);
    history.success();
    let rows: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{}", history.stdout);
    assert!(
        rows[1].starts_with("3\tsubscribed\tBob Example"),
        "{}",
        history.stdout
    );
    assert!(rows[2].contains("\tunsubscribed\t"), "{}", history.stdout);
    p.bulletin(&["list", "--history", "nobody@example.org"])
        .failure()
        .stderr_has("nobody@example.org is not on the list");
}

/// `status` without `--issue` reports the issue sent last.
#[test]
fn status_reports_the_issue_sent_last() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    p.bulletin(&["status"])
        .failure()
        .stderr_has("no issue was sent yet");
    p.send(&[]).success();
    let later = p
        .read("issues/2022-08-01.toml")
        .replace("date = 2022-08-01", "date = 2022-08-15");
    p.write("issues/2022-08-15.toml", later);
    // Sent a minute on: the later send is the latest.
    let minute_on = (crate::util::PINNED_EPOCH.parse::<u64>().expect("epoch") + 60).to_string();
    p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-15.toml",
            "--yes",
            "--limit",
            "2",
        ],
        &[("SOURCE_DATE_EPOCH", minute_on.as_str())],
    )
    .success();
    p.bulletin(&["status"])
        .success()
        .stdout_has("issues/2022-08-15.toml: ")
        .stdout_has("sent:         2");
    let json = p.bulletin(&["status", "--json"]);
    json.success();
    let r: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert!(
        r["issue"]
            .as_str()
            .is_some_and(|i| i.ends_with("issues/2022-08-15.toml")),
        "{r}"
    );
    assert_eq!(r["sent"], 2);
}

/// A test copy is marked as one in its subject; the real issue is not.
#[test]
fn a_test_copy_says_it_is_a_test() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "ed@example.org",
    ])
    .success();
    let mails = crate::serve::dumped(&sink);
    assert_eq!(mails.len(), 1);
    let copy = std::fs::read_to_string(&mails[0]).expect("mail");
    assert!(
        copy.contains("\nSubject: [Test] US-Japan Alliance Digest: August 1, 2022"),
        "{copy}"
    );
    p.send(&[]).success();
    for mail in crate::serve::dumped(&sink)
        .iter()
        .filter(|m| **m != mails[0])
    {
        let raw = std::fs::read_to_string(mail).expect("mail");
        assert!(!raw.contains("[Test]"), "{raw}");
    }
}

/// `serve` logs one line for each change a reader makes, naming the
/// address only by its first letter and domain.
#[test]
fn serve_logs_each_change_a_reader_makes() {
    use std::time::{Duration, Instant};
    let sink = SmtpSink::start(&[]);
    let port = crate::servers::free_port();
    let p = crate::serve::project(port, &sink, "");
    let log = p.path("serve.log");
    let mut child = p
        .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SOURCE_DATE_EPOCH", crate::util::PINNED_EPOCH)
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = crate::serve::client();
    let start = Instant::now();
    while http.get(format!("{base}/healthz")).send().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    http.post(format!("{base}/subscribe"))
        .form(&[("email", "nell@example.net")])
        .send()
        .expect("post");
    let link = crate::serve::wait_for_mail(&sink, "nell@example.net", 1).remove(0);
    crate::serve::confirm_as_shown(&link, None);
    let _ = child.kill();
    let _ = child.wait();
    let said = std::fs::read_to_string(&log).expect("log");
    assert!(
        said.contains("sign-up (confirmation mail queued): n…@example.net"),
        "{said}"
    );
    assert!(said.contains("confirmed: n…@example.net"), "{said}");
    assert!(
        !said.contains("nell@"),
        "a whole address in the log: {said}"
    );
}

/// `check --json`: one object with `ok`, `errors`, `warnings` (each a
/// file, line and message) and `summary`; the exit code as without it.
#[test]
fn check_json_has_its_documented_shape() {
    let p = Project::sample();
    let run = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml", "--json"]);
    run.success();
    let r: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0));
    assert!(r["warnings"].is_array());
    assert!(
        r["summary"].as_array().is_some_and(|s| !s.is_empty()),
        "{r}"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    p.edit(
        "issues/2022-08-01.toml",
        "date = 2022-08-01",
        "date = \"soon\"",
    );
    let bad = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml", "--json"]);
    // Exit 1, and the findings on stdout only.
    assert_eq!(bad.code, Some(1), "{bad:?}");
    let r: serde_json::Value = serde_json::from_str(&bad.stdout).expect("json");
    assert_eq!(r["ok"], false);
    let first = &r["errors"][0];
    assert_eq!(first["file"], "issues/2022-08-01.toml", "{r}");
    assert!(first["line"].as_u64().is_some(), "{r}");
    assert!(
        first["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{r}"
    );
}

/// `--config` on a command that reads no config is refused, not ignored.
#[test]
fn config_is_refused_where_it_would_do_nothing() {
    let p = Project::sample();
    for args in [
        vec!["init", "fresh", "--config", "other.toml"],
        vec!["--config", "other.toml", "man"],
        vec!["completions", "bash", "--config", "x.toml"],
    ] {
        // A usage error: exit 2, as clap's own.
        let run = p.bulletin(&args);
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(run.stderr.contains("--config does nothing for"), "{run:?}");
    }
    assert!(!p.path("fresh").exists());
    p.bulletin(&["man"]).success();
}

/// Our own warnings are coloured on a terminal (a pseudo-terminal made
/// by `script`), and plain when piped or with NO_COLOR.
#[test]
fn warnings_are_coloured_on_a_terminal_only() {
    let p = Project::sample();
    let list = p.read("subscribers.example.csv");
    p.write(
        "subscribers.example.csv",
        format!("{list}alice@example.org,Alice Again,,\n"),
    );
    let bin = env!("CARGO_BIN_EXE_bulletin");
    let line = format!("{bin} check --issue issues/2022-08-01.toml");
    let on_tty = |no_color: bool| -> String {
        // The test's environment for bulletin (its secret, its clock).
        let cmd = p.command(&[]);
        let mut script = std::process::Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .current_dir(p.path("."))
            .envs(
                cmd.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let out = script
            .output()
            .expect("script (util-linux) must be installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = on_tty(false);
    assert!(tty.contains("\x1b[1;33mwarning:\x1b[0m"), "{tty:?}");
    let plain = on_tty(true);
    assert!(
        plain.contains("warning:") && !plain.contains("\x1b["),
        "{plain:?}"
    );
    let piped = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    assert!(piped.stderr.contains("warning:") && !piped.stderr.contains("\x1b["));
}

/// `send --json --yes`: stdout is one JSON object, the outcome first; a
/// stopped run says why, and exits 1.
#[test]
fn send_json_is_one_object_with_the_outcome() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    let run = p.send(&["--json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let s: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    assert_eq!(s["outcome"], "sent", "{s}");
    assert_eq!(s["sent"], 4);
    assert_eq!(s["still_due"], 0);
    assert_eq!(s["skipped"]["unsubscribed"], 1);
    assert_eq!(sink.settled().len(), 4);
    let again = p.send(&["--json"]);
    let s: serde_json::Value = serde_json::from_str(&again.stdout).expect("json");
    assert_eq!(s["outcome"], "nothing to send", "{s}");
    assert_eq!(s["skipped"]["sent_earlier"], 4);
    // A relay that is down: "stopped", with the cause.
    let down = Project::sample();
    down.with_server(crate::servers::free_port(), "", "");
    let run = down.send(&["--json"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let s: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(s["outcome"], "stopped", "{s}");
    assert!(
        s["cause"]
            .as_str()
            .is_some_and(|c| c.contains("cannot connect")),
        "{s}"
    );
    assert_eq!(s["still_due"], 4);
}

/// What review found: `still_due` counts readers past `--limit`; a status
/// `list` does not know, `status --log` without `--issue` and `--config`
/// on `init` are usage errors (exit 2); the dry-run refuses with
/// `--strict` as `send` does, and a file at the log's path that is not a
/// delivery log.
#[test]
fn review_cases_of_the_console() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    let run = p.send(&["--json", "--limit", "1"]);
    let s: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(s["sent"], 1, "{s}");
    assert_eq!(s["still_due"], 3, "{s}");
    assert_eq!(p.bulletin(&["list", "--status", "subscibed"]).code, Some(2));
    assert_eq!(p.bulletin(&["status", "--log", "logs/x.csv"]).code, Some(2));
    // Without the unsubscribe secret the pre-send check warns, and
    // --strict refuses, in the dry-run as in the send.
    p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--dry-run",
            "--strict",
        ],
        &[("BULLETIN_UNSUBSCRIBE_SECRET", "")],
    )
    .failure()
    .stderr_has("--strict");
    p.write("logs/other.csv", "not,a,log\n");
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--dry-run",
        "--log",
        "logs/other.csv",
    ])
    .failure()
    .stderr_has("is not a delivery log");
}
