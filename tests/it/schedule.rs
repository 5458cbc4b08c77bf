//! `send --at` and `--local` on the real binary against smtp-sink: sent at
//! the time and not before, refused when too late or ambiguous, nothing
//! sent when stopped while waiting, waves by each reader's zone that a
//! kill and a re-run finish with every reader mailed once.

use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::servers::SmtpSink;
use crate::util::Project;

const ISSUE: &str = "issues/2022-08-01.toml";

/// 2026-12-09 06:59:57 UTC: three seconds before 08:00 in Berlin.
const BEFORE_BERLIN_EIGHT: u64 = 1_796_799_597;
/// 2026-12-09 12:59:57 UTC: three seconds before 08:00 in New York.
const BEFORE_NEW_YORK_EIGHT: u64 = 1_796_821_197;
/// 2026-12-09 22:59:57 UTC: three seconds before 08:00 (the 10th) in Tokyo.
const BEFORE_TOKYO_EIGHT: u64 = 1_796_857_197;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn spawn_send(p: &Project, more: &[&str], epoch: u64) -> Child {
    let mut args = vec!["send", "--issue", ISSUE, "--yes"];
    args.extend_from_slice(more);
    p.command(&args)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bulletin")
}

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits (up to 20 s) until the sink has `n` messages.
fn wait_for(sink: &SmtpSink, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let got = sink.received();
        if got.len() >= n {
            return sink.settled().into_iter().map(|r| r.rcpt).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the sink has {:?}, not {n} messages", sink.received());
}

fn rcpts(sink: &SmtpSink) -> Vec<String> {
    sink.settled().into_iter().map(|r| r.rcpt).collect()
}

#[test]
fn a_send_at_a_time_goes_then_and_not_before() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").with_readers(3);
    let start = now_secs();
    let at = start + 4;
    // RFC 3339 with an offset: the instant, whatever the zone.
    let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at))
        .to_string()
        .replace('Z', "+00:00");
    let child = spawn_send(&p, &["--at", &text], start);
    std::thread::sleep(Duration::from_secs(2));
    assert!(sink.received().is_empty(), "sent before its time");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Waiting to send at"), "{stderr}");
    let got = rcpts(&sink);
    assert_eq!(got.len(), 3, "{got:?}");
    // Each message as the sink wrote it: within 2 s of the time asked.
    for file in crate::util::files_under(&sink.dump_dir()) {
        let written = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime")
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        assert!(
            (written - at as f64).abs() <= 2.0,
            "written at {written}, asked for {at}"
        );
    }
}

#[test]
fn a_time_past_goes_within_late_and_is_refused_beyond() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").with_readers(2);
    // The pinned clock reads 2022-08-01 10:00 UTC (12:00 in Berlin).
    let refused = p.send(&["--at", "2022-08-01T08:00:00Z"]);
    refused
        .failure()
        .stderr_has("too late to send")
        .stderr_has("2h ago")
        .stderr_has("--late 1h")
        .stderr_has("nothing was sent");
    assert!(rcpts(&sink).is_empty());
    assert!(
        !p.log_rows().iter().any(|r| r.status == "sent"),
        "a refused send wrote sent rows"
    );
    // A restart half an hour late is inside the default hour: it sends now.
    p.send(&["--at", "2022-08-01 11:30 Europe/Berlin"])
        .success()
        .stderr_has("was due 30m ago (within --late): sending now");
    assert_eq!(rcpts(&sink).len(), 2);
    // Outside a shorter --late, the same time is refused.
    let q = Project::sample();
    q.with_server(sink.port, "", "").with_readers(2);
    q.send(&["--at", "2022-08-01 11:30 Europe/Berlin", "--late", "10m"])
        .failure()
        .stderr_has("2022-08-01 11:30 CEST (2022-08-01 09:30:00 UTC; Europe/Berlin) was 30m ago")
        .stderr_has("more than --late 10m");
    assert_eq!(rcpts(&sink).len(), 2, "the refused run sent");
}

#[test]
fn a_local_time_skipped_or_repeated_by_daylight_saving_is_refused() {
    let p = Project::sample();
    // A time that cannot be is a usage error: exit 2, as clap's own.
    let gap = p.send(&["--at", "2026-03-29 02:30 Europe/Berlin"]);
    assert_eq!(gap.code, Some(2), "{gap:?}");
    gap.stderr_has("2026-03-29 02:30 does not exist in Europe/Berlin")
        .stderr_has("2026-03-29T02:30:00+01:00 (that is 03:30 CEST, 01:30 UTC)")
        .stderr_has("2026-03-29T02:30:00+02:00 (01:30 CET, 00:30 UTC)");
    let fold = p.send(&["--at", "2026-10-25 02:30 Europe/Berlin"]);
    assert_eq!(fold.code, Some(2), "{fold:?}");
    fold.stderr_has("2026-10-25 02:30 happens twice in Europe/Berlin")
        .stderr_has("2026-10-25T02:30:00+02:00 (the first, 02:30 CEST, 00:30 UTC)")
        .stderr_has("2026-10-25T02:30:00+01:00 (the second, 02:30 CET, 01:30 UTC)");
    // Without a zone and no [newsletter] timezone, it says how to give one.
    let zoneless = p.send(&["--at", "2026-12-09 08:00"]);
    assert_eq!(zoneless.code, Some(2), "{zoneless:?}");
    zoneless.stderr_has("has no zone");
    assert!(
        !p.path("logs/2022-08-01.csv").exists(),
        "a refusal wrote a log"
    );
}

#[test]
fn stopped_while_waiting_nothing_is_sent_and_a_reader_who_leaves_is_not_mailed() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").with_readers(3);
    let epoch: u64 = crate::util::PINNED_EPOCH.parse().expect("a number");
    for sig in ["-INT", "-TERM"] {
        let child = spawn_send(&p, &["--at", "2022-08-01T10:01:00Z"], epoch);
        std::thread::sleep(Duration::from_millis(1500));
        // While it waits, `status` shows the wave to come.
        p.bulletin(&["status", "--issue", ISSUE])
            .success()
            .stdout_has("to come  2022-08-01T10:01:00Z  UTC  3 readers");
        signal(&child, sig);
        let out = child.wait_with_output().expect("wait");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("stopped while waiting for 2022-08-01 10:01:00 UTC; nothing was sent"),
            "{sig}: {stderr}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(rcpts(&sink).is_empty(), "a stopped wait sent");
    // Two plans stopped one after the other: status shows the last alone.
    let status = p.bulletin(&["status", "--issue", ISSUE]);
    let shown = &status.success().stdout;
    assert_eq!(shown.matches("to come").count(), 1, "{shown}");

    // A reader who unsubscribes during the wait is not mailed at the
    // time; one who joins meanwhile is: the list as it is then.
    let child = spawn_send(&p, &["--at", "2022-08-01T10:00:04Z"], epoch);
    std::thread::sleep(Duration::from_millis(1500));
    p.bulletin(&["unsubscribe", "r1@example.org"]).success();
    p.bulletin(&["subscribe", "new@example.org"]).success();
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rcpts(&sink),
        ["new@example.org", "r0@example.org", "r2@example.org"]
    );
}

#[test]
fn a_signal_once_the_wait_is_over_stops_the_send_as_it_would_unscheduled() {
    // A server that never answers, and a long SMTP timeout: the send
    // hangs in its first connection, and only the signal can end it.
    let silent = crate::servers::Silent::start();
    let p = Project::sample();
    p.with_server(silent.port, "", "").with_readers(2).edit(
        "config.toml",
        "timeout_secs = 5",
        "timeout_secs = 120",
    );
    let start = now_secs();
    let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(start + 2));
    let mut child = spawn_send(&p, &["--at", &at.to_string()], start);
    std::thread::sleep(Duration::from_secs(4));
    assert!(child.try_wait().expect("poll").is_none(), "it did not wait");
    signal(&child, "-TERM");
    let stopped = std::time::Instant::now();
    while child.try_wait().expect("poll").is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "SIGTERM was ignored while sending"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopped by a signal while sending"),
        "{stderr}"
    );
}

#[test]
fn a_wave_reached_late_after_a_pause_is_refused() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").with_readers(2);
    let start = now_secs();
    let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(start + 3));
    let child = spawn_send(&p, &["--at", &at.to_string(), "--late", "1s"], start);
    std::thread::sleep(Duration::from_secs(1));
    // As a machine put to sleep: the process stops, the clock runs on.
    signal(&child, "-STOP");
    std::thread::sleep(Duration::from_secs(5));
    signal(&child, "-CONT");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("too late to send"), "{stderr}");
    assert!(stderr.contains("more than --late 1s"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(rcpts(&sink).is_empty(), "sent late: {:?}", rcpts(&sink));
}

#[test]
fn rows_a_scheduled_send_cannot_mail_are_named_first_and_fail_the_run() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").write(
        "subscribers.example.csv",
        "email,name\nr0@example.org,Ann\nnot-an-address,Bad\nr1@example.org,Bob\n",
    );
    let start = now_secs();
    let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(start + 2));
    let out = spawn_send(&p, &["--at", &at.to_string()], start)
        .wait_with_output()
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let warned = stderr.find("1 row will not be mailed").expect(&stderr);
    let waited = stderr.find("Waiting to send at").expect(&stderr);
    assert!(warned < waited, "named only after the wait: {stderr}");
    assert!(stderr.contains("1 invalid"), "{stderr}");
    assert_eq!(rcpts(&sink), ["r0@example.org", "r1@example.org"]);
}

/// Five readers: two in Berlin's wave (one by the newsletter's zone), one
/// in Paris (the same instant), one in New York, one in Tokyo.
fn zoned_project(port: u16) -> Project {
    let p = Project::sample();
    p.with_server(port, "", "")
        .edit(
            "config.toml",
            "[newsletter]\n",
            "[newsletter]\ntimezone = \"Europe/Berlin\"\n",
        )
        .write(
            "subscribers.example.csv",
            "email,name,timezone\n\
             berlin@example.org,Bea,Europe/Berlin\n\
             paris@example.org,Pia,Europe/Paris\n\
             home@example.org,Hal,\n\
             nyc@example.org,Ned,America/New_York\n\
             tokyo@example.org,Tai,Asia/Tokyo\n",
        );
    p
}

#[test]
fn local_waves_go_at_each_readers_eight_and_a_kill_between_them_mails_nobody_twice() {
    let sink = SmtpSink::start(&[]);
    let p = zoned_project(sink.port);
    let local = ["--at", "08:00", "--local"];

    // Berlin's 08:00 (Paris and the newsletter's zone with it), then it
    // waits for New York: killed there.
    let child = spawn_send(&p, &local, BEFORE_BERLIN_EIGHT);
    let first = wait_for(&sink, 3);
    assert_eq!(
        first,
        [
            "berlin@example.org",
            "home@example.org",
            "paris@example.org"
        ]
    );
    std::thread::sleep(Duration::from_millis(500));
    let status = p.bulletin(&["status", "--issue", ISSUE]);
    status
        .success()
        .stdout_has("sent     2026-12-09T07:00:00Z  Europe/Berlin, Europe/Paris  3 readers")
        .stdout_has("to come  2026-12-09T13:00:00Z  America/New_York  1 reader")
        .stdout_has("to come  2026-12-09T23:00:00Z  Asia/Tokyo  1 reader");
    signal(&child, "-KILL");
    let _ = child.wait_with_output();
    assert_eq!(rcpts(&sink).len(), 3, "New York was mailed early");

    // Berlin's reader moves to New York meanwhile: mailed already, not again.
    p.edit(
        "subscribers.example.csv",
        "berlin@example.org,Bea,Europe/Berlin",
        "berlin@example.org,Bea,America/New_York",
    );
    let child = spawn_send(&p, &local, BEFORE_NEW_YORK_EIGHT);
    let second = wait_for(&sink, 4);
    assert!(second.contains(&"nyc@example.org".to_owned()), "{second:?}");
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-TERM");
    let _ = child.wait_with_output();
    assert_eq!(rcpts(&sink).len(), 4, "{:?}", rcpts(&sink));

    // Tokyo's 08:00 is the last wave: the run ends by itself.
    let out = spawn_send(&p, &local, BEFORE_TOKYO_EIGHT)
        .wait_with_output()
        .expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = rcpts(&sink);
    assert_eq!(
        all,
        [
            "berlin@example.org",
            "home@example.org",
            "nyc@example.org",
            "paris@example.org",
            "tokyo@example.org"
        ],
        "each reader once"
    );
    // The log's own clock: each wave's rows at its reader's 08:00.
    let sent_at: std::collections::BTreeMap<String, String> = p
        .log_rows()
        .into_iter()
        .filter(|r| r.status == "sent")
        .map(|r| (r.email, r.timestamp))
        .collect();
    for (email, hour) in [
        ("berlin@example.org", "2026-12-09T07:00"),
        ("nyc@example.org", "2026-12-09T13:00"),
        ("tokyo@example.org", "2026-12-09T23:00"),
    ] {
        assert!(
            sent_at[email].starts_with(hour),
            "{email} sent at {}",
            sent_at[email]
        );
    }
}

#[test]
fn an_unknown_zone_is_named_with_its_line_and_nothing_is_sent() {
    let sink = SmtpSink::start(&[]);
    let p = zoned_project(sink.port);
    p.edit(
        "subscribers.example.csv",
        "nyc@example.org,Ned,America/New_York",
        "nyc@example.org,Ned,America/Gotham",
    );
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("subscribers.example.csv:5: `timezone`: \"America/Gotham\" is not a time zone");
    p.send(&["--at", "08:00", "--local"])
        .failure()
        .stderr_has("subscribers.example.csv:5: `timezone`: \"America/Gotham\"");
    // Readers with no zone of their own and no newsletter zone: refused too.
    let q = zoned_project(sink.port);
    q.edit("config.toml", "timezone = \"Europe/Berlin\"\n", "");
    q.send(&["--at", "08:00", "--local"])
        .failure()
        .stderr_has("1 reader has no `timezone` and [newsletter] timezone is not set (line 4)");
    assert!(rcpts(&sink).is_empty());
}

#[test]
fn a_reader_who_joins_during_the_wait_unfillable_is_left_out_not_everyone() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "").write(
        "subscribers.example.csv",
        "email,name,City Name\nr0@example.org,Ann,Tokyo\nr1@example.org,Bob,Osaka\n",
    );
    let issue = p.read(ISSUE);
    p.write(
        ISSUE,
        format!("intro = \"From {{{{ city_name }}}}.\"\n{issue}"),
    );
    p.bulletin(&["check", "--issue", ISSUE]).success();
    let epoch: u64 = crate::util::PINNED_EPOCH.parse().expect("a number");
    let child = spawn_send(&p, &["--at", "2022-08-01T10:00:04Z"], epoch);
    std::thread::sleep(Duration::from_millis(1500));
    // No city: this reader's intro cannot be filled in. At the time the
    // others are mailed all the same; the newcomer is named, not mailed.
    p.bulletin(&["subscribe", "new@example.org"]).success();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("subscribers.example.csv:4: new@example.org"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 reader changed or joined during the wait"),
        "{stderr}"
    );
    assert_eq!(rcpts(&sink), ["r0@example.org", "r1@example.org"]);
    // Once the row is filled in, a plain send mails just that reader.
    let list = p.read("subscribers.example.csv");
    let filled = list
        .lines()
        .map(|l| {
            if l.starts_with("new@example.org") {
                "new@example.org,New,Nara".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    p.write("subscribers.example.csv", format!("{filled}\n"));
    p.send(&[]).success();
    assert_eq!(
        rcpts(&sink),
        ["new@example.org", "r0@example.org", "r1@example.org"]
    );
}
