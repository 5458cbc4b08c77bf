//! Several relays (`[[smtp]]`): readers spread by weight, each delivered
//! once; a relay dead, killed mid-run or answering 421 taken out while
//! the others take its share; daily limits that hold across runs, counted
//! from the logs, with the clock moved a day on; `--wait`; a relay's own
//! rate measured at the sink.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::scripted::{Act, Cmd, Offer, Scripted};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project};

/// One `[[smtp]]` table: a name, a port and more keys.
fn relay(name: &str, port: u16, more: &str) -> String {
    format!(
        "[[smtp]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 5\n{more}\n"
    )
}

/// The sample project with `n` readers, sent through `relays`.
fn fleet(n: usize, relays: &[String], sending: &str) -> Project {
    let p = Project::sample();
    p.with_readers_on(n, 7);
    p.edit(
        "config.toml",
        "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
        &format!("{}\n[sending]\n{sending}\n", relays.concat()),
    );
    p
}

/// Each address's rows in the log: (status, relay) of its last row.
fn last_rows(p: &Project) -> BTreeMap<String, (String, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(p.path("logs/2022-08-01.csv"))
        .expect("log");
    let mut out = BTreeMap::new();
    for r in reader.records() {
        let r = r.expect("row");
        if r[1].is_empty() {
            continue;
        }
        out.insert(
            r[1].to_owned(),
            (r[2].to_owned(), r.get(7).unwrap_or("").to_owned()),
        );
    }
    out
}

fn rcpts(sink: &SmtpSink) -> Vec<String> {
    sink.settled().into_iter().map(|r| r.rcpt).collect()
}

#[test]
fn readers_are_spread_by_weight_each_once_and_the_log_names_each_relay() {
    let (a, b) = (SmtpSink::start(&[]), SmtpSink::start(&[]));
    let p = fleet(
        4000,
        &[
            relay("light", a.port, "weight = 1\nconcurrency = 2"),
            relay("heavy", b.port, "weight = 3\nconcurrency = 4"),
        ],
        "concurrency = 4",
    );
    p.send(&[])
        .success()
        .stdout_has("sent:         4000")
        .stdout_has("by relay:     light ");
    let (got_a, got_b) = (rcpts(&a), rcpts(&b));
    let all: BTreeSet<&String> = got_a.iter().chain(&got_b).collect();
    assert_eq!(got_a.len() + got_b.len(), 4000, "someone got it twice");
    assert_eq!(all.len(), 4000);
    let ratio = got_b.len() as f64 / got_a.len() as f64;
    assert!(
        (ratio - 3.0).abs() <= 0.15,
        "{} : {}",
        got_a.len(),
        got_b.len()
    );
    // The log names the relay each reader went through.
    let rows = last_rows(&p);
    for who in &got_a {
        assert_eq!(rows[who], ("sent".to_owned(), "light".to_owned()), "{who}");
    }
    for who in &got_b {
        assert_eq!(rows[who].1, "heavy", "{who}");
    }
}

#[test]
fn a_dead_relay_one_answering_421_and_one_refusing_the_session_leave_every_reader_to_the_others() {
    let live = SmtpSink::start(&[]);
    let busy = Scripted::start(Offer::default(), |cmd, _| {
        (cmd == Cmd::Greeting).then_some(Act::Reply("421 4.3.2 too busy, try later"))
    });
    // Refuses the session itself, as a relay failing TLS or AUTH does.
    let refusing = Scripted::start(Offer::default(), |cmd, _| {
        (cmd == Cmd::Ehlo).then_some(Act::Reply("554 5.7.0 not with you"))
    });
    let dead = free_port();
    let p = fleet(
        300,
        &[
            relay("dead", dead, "weight = 2"),
            relay("busy", busy.port, "weight = 2"),
            relay("refusing", refusing.port, "weight = 2"),
            relay("live", live.port, ""),
        ],
        "concurrency = 2",
    );
    p.send(&[])
        .success()
        .stdout_has("sent:         300")
        .stdout_has("failed:       0")
        .stderr_has("relay dead (127.0.0.1:")
        .stderr_has("relay busy (127.0.0.1:")
        .stderr_has("relay refusing (127.0.0.1:");
    assert_eq!(rcpts(&live).len(), 300);
    let rows = last_rows(&p);
    assert!(rows.values().all(|(s, r)| s == "sent" && r == "live"));
}

#[test]
fn a_relay_killed_mid_run_leaves_its_share_to_the_other_and_nobody_fails() {
    let a = SmtpSink::start(&[]);
    let b = SmtpSink::start(&[]);
    let p = fleet(
        600,
        &[
            relay("a", a.port, "rate = 100"),
            relay("b", b.port, "rate = 100"),
        ],
        "concurrency = 2",
    );
    let started = std::time::Instant::now();
    let mut child = p
        .command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1200));
    let got_a = a.received().len();
    drop(a);
    let status = child.wait().expect("wait");
    // The run ends with the list, not with the dead relay's back-off.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        got_a > 0 && got_a < 300,
        "a got {got_a} before it was killed"
    );
    let rows = last_rows(&p);
    let by: BTreeMap<&str, usize> = rows.values().fold(BTreeMap::new(), |mut m, (s, _)| {
        *m.entry(s.as_str()).or_default() += 1;
        m
    });
    // Nobody failed or deferred for the relay's death; a message in flight
    // as it died may or may not have arrived (unknown).
    assert_eq!(by.get("failed"), None, "{by:?}");
    assert_eq!(by.get("deferred"), None, "{by:?}");
    assert!(by.get("unknown").copied().unwrap_or(0) <= 2, "{by:?}");
    assert_eq!(rows.len(), 600);
    let sent_b: BTreeSet<String> = rcpts(&b).into_iter().collect();
    for (who, (s, relay)) in &rows {
        if s == "sent" && relay == "b" {
            assert!(sent_b.contains(who), "{who} logged sent by b, not at b");
        }
    }
    assert!(sent_b.len() > 300, "b took a's share: {}", sent_b.len());
    assert!(status.code().is_some());
}

#[test]
fn a_daily_limit_holds_across_runs_until_the_clock_moves_a_day_on() {
    let sink = SmtpSink::start(&[]);
    let p = fleet(
        250,
        &[relay("ses", sink.port, "daily_limit = 100")],
        "concurrency = 2",
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("250 readers is more than one day of every relay's daily limit (100): the send takes 3 days");
    p.send(&[])
        .failure()
        .stdout_has("sent:         100")
        .stdout_has("ses: 100 in 24 h used; 150 readers wait; capacity from ");
    assert_eq!(rcpts(&sink).len(), 100);
    // The same day: no room.
    p.send(&[]).failure().stdout_has("sent:         0");
    assert_eq!(rcpts(&sink).len(), 100);
    // A day on, the next 100.
    let later = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 24 * 3600 + 60).to_string();
    p.bulletin_with(
        &["send", "--issue", "issues/2022-08-01.toml", "--yes"],
        &[("SOURCE_DATE_EPOCH", later.as_str())],
    )
    .failure()
    .stdout_has("sent:         100");
    let got = rcpts(&sink);
    assert_eq!(got.len(), 200);
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        200,
        "nobody twice"
    );
    p.bulletin_with(
        &["status", "--issue", "issues/2022-08-01.toml"],
        &[("SOURCE_DATE_EPOCH", later.as_str())],
    )
    .success()
    .stdout_has("ses: 200 sent, 0 failed; 0 of 100 left in 24 h (100 used), room again from ");
}

#[test]
fn send_wait_goes_on_as_room_returns_and_finishes_the_list() {
    let sink = SmtpSink::start(&[]);
    let p = fleet(
        60,
        &[relay("ses", sink.port, "daily_limit = 25")],
        "concurrency = 2",
    );
    let started = std::time::Instant::now();
    p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--yes",
            "--wait",
        ],
        &[("BULLETIN_QUOTA_WINDOW_SECS", "2")],
    )
    .success()
    .stdout_has("sent:         60")
    .stderr_has("ses: 25 in 24 h used; waiting for room from");
    // Three windows' worth: it waited for room twice.
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(rcpts(&sink).len(), 60);
}

#[test]
fn a_relays_own_rate_holds_at_the_sink() {
    let sink = SmtpSink::start(&[]);
    let p = fleet(
        101,
        &[relay("slow", sink.port, "rate = 20")],
        "concurrency = 4",
    );
    p.send(&[]).success();
    let mut times: Vec<SystemTime> = crate::serve::dumped(&sink)
        .iter()
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect();
    times.sort();
    assert_eq!(times.len(), 101);
    let span = times[100]
        .duration_since(times[0])
        .expect("order")
        .as_secs_f64();
    let rate = 100.0 / span;
    assert!((rate - 20.0).abs() <= 1.0, "{rate:.2} messages a second");
}

#[test]
fn a_relays_config_problems_name_its_table_and_line() {
    let p = fleet(
        3,
        &[
            relay("a", 2525, "weight = 0"),
            "[[smtp]]\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"none\"\n".into(),
        ],
        "",
    );
    let run = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    run.failure()
        .stderr_has("[[smtp]] #1: `weight` must be from 1 to 1000")
        .stderr_has("[[smtp]] #2: `name` is needed when there are several relays");
    assert!(run.stderr.contains("config.toml:"), "{}", run.stderr);
}

#[test]
fn a_relay_whose_breaker_trips_is_out_and_its_readers_go_to_the_other() {
    let sink = SmtpSink::start(&[]);
    let strict = Scripted::start(Offer::default(), |cmd, _| {
        (cmd == Cmd::Rcpt).then_some(Act::Reply("550 mailbox unavailable"))
    });
    let p = fleet(
        200,
        &[
            relay("strict", strict.port, "weight = 3\nconcurrency = 1"),
            relay("fine", sink.port, "concurrency = 2"),
        ],
        "concurrency = 2",
    );
    p.send(&[])
        .success()
        .stdout_has("sent:         200")
        .stdout_has("failed:       0")
        .stderr_has("relay strict (127.0.0.1:");
    let got = rcpts(&sink);
    assert_eq!(got.len(), 200);
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 200);
    let rows = last_rows(&p);
    assert!(rows.values().all(|(s, r)| s == "sent" && r == "fine"));
    let log = p.read("logs/2022-08-01.csv");
    assert_eq!(
        log.matches("to another relay: 10 readers in a row").count(),
        10,
        "{log}"
    );
}

#[test]
fn a_run_with_one_relay_dead_and_the_other_out_of_quota_stops_with_the_rest_due() {
    let sink = SmtpSink::start(&[]);
    let dead = free_port();
    let p = fleet(
        20,
        &[
            relay("ses", sink.port, "daily_limit = 5"),
            relay("dead", dead, ""),
        ],
        "concurrency = 1",
    );
    let started = std::time::Instant::now();
    p.send(&[])
        .failure()
        .stdout_has("sent:         5")
        .stderr_has("every relay is out (ses: its daily limit is used; dead: cannot connect");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(rcpts(&sink).len(), 5);
}
