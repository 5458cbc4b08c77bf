//! Real relays: what the relay or the sender causes is never blamed on a
//! reader, a dead relay ends the run, international addresses go out in a
//! form servers take, and what each server received is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::scripted::{Act, Cmd, Offer, Scripted};
use crate::servers::SmtpSink;
use crate::util::Project;

const FAST_RETRY: &str = "retry_delay = 0.01\n";

fn statuses(p: &Project) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in p.final_statuses().into_values() {
        *m.entry(s).or_default() += 1;
    }
    m
}

fn sending_rows(p: &Project) -> usize {
    p.log_rows()
        .iter()
        .filter(|r| r.status == "sending")
        .count()
}

/// The dry-run's .eml for `email` in `dir`.
fn eml(p: &Project, dir: &str, email: &str) -> Vec<u8> {
    let safe = email.replace('@', "_");
    let name = p
        .files_in(dir)
        .into_iter()
        .find(|f| f.ends_with(&format!("-{safe}.eml")))
        .unwrap_or_else(|| panic!("no .eml for {email} in {dir}"));
    std::fs::read(p.path(&format!("{dir}/{name}"))).expect("eml")
}

fn repoint(p: &Project, old: u16, new: u16) {
    p.edit(
        "config.toml",
        &format!("port = {old}\n"),
        &format!("port = {new}\n"),
    );
}

/// Amazon SES in its sandbox refuses every message after the dot. That is
/// about the sender: a handful of attempts, nobody failed, and once the
/// sender is fixed a rerun delivers to each reader once.
#[test]
fn a_relay_that_refuses_the_sender_after_the_dot_stops_the_run_and_blames_no_reader() {
    let sink = SmtpSink::start(&[
        "-f",
        ".",
        "-B",
        "554 5.7.1 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: digest@example.org",
    ]);
    let p = Project::sample();
    p.with_readers(1000)
        .with_server(sink.port, "", "concurrency = 4");
    let run = p.send(&[]);
    run.failure()
        .stderr_has("refused the end of the message: 554 5.7.1 Message rejected")
        .stderr_has("nobody was marked failed");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(sending_rows(&p) <= 8, "{} attempts", sending_rows(&p));
    let st = statuses(&p);
    assert_eq!(st.get("failed"), None, "{st:?}");
    assert!(st.keys().all(|s| s == "deferred"), "{st:?}");
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("failed:       0");

    let fixed = SmtpSink::start(&[]);
    repoint(&p, sink.port, fixed.port);
    p.send(&[]).success().stdout_has("sent:         1000");
    let got = fixed.settled();
    let unique: BTreeSet<_> = got.iter().map(|r| r.rcpt.clone()).collect();
    assert_eq!(got.len(), 1000);
    assert_eq!(unique.len(), 1000);
}

#[test]
fn a_sender_refused_at_mail_from_stops_the_run_at_once() {
    let sink = SmtpSink::start(&[
        "-f",
        "MAIL",
        "-B",
        "550 5.7.1 Sender address rejected: not owned by user",
    ]);
    let p = Project::sample();
    p.with_readers(50)
        .with_server(sink.port, "", "concurrency = 2");
    p.send(&[]).failure().stderr_has(&format!(
        "127.0.0.1:{} refused MAIL FROM: 550 5.7.1 Sender address rejected",
        sink.port
    ));
    assert!(sending_rows(&p) <= 2);
    assert_eq!(statuses(&p).get("failed"), None);
}

#[test]
fn a_refused_greeting_or_ehlo_stops_the_run_and_names_the_stage() {
    for (cmd, reply, stage) in [
        (
            Cmd::Greeting,
            "554 5.3.2 no service for you",
            "refused the greeting: 554",
        ),
        (
            Cmd::Ehlo,
            "550 5.7.1 go away",
            "refused EHLO: 550 5.7.1 go away",
        ),
    ] {
        let server = Scripted::start(Offer::default(), move |c, _| {
            (c == cmd).then_some(Act::Reply(reply))
        });
        let p = Project::sample();
        p.with_readers(20)
            .with_server(server.port, "", "concurrency = 2");
        p.send(&[]).failure().stderr_has(stage);
        assert_eq!(statuses(&p).get("failed"), None);
        assert!(server.messages().is_empty());
    }
}

/// A refusal after the dot with no enhanced code may be the reader's or
/// the sender's: the same one for ten readers in a row, across three
/// domains, stops the run and makes them due again.
#[test]
fn the_same_unexplained_refusal_for_ten_readers_on_three_domains_stops_the_run() {
    for concurrency in [1, 4] {
        let server = Scripted::start(Offer::default(), |c, to| {
            (c == Cmd::Dot).then(|| Act::Owned(format!("554 Message rejected for <{to}>")))
        });
        let p = Project::sample();
        p.with_readers_on(200, 5).with_server(
            server.port,
            "",
            &format!("concurrency = {concurrency}"),
        );
        let run = p.send(&[]);
        run.failure()
            .stderr_has("10 readers in a row were refused with the same reply");
        let attempts = sending_rows(&p);
        if concurrency == 1 {
            assert_eq!(attempts, 10);
        } else {
            // The ten, and at most the others then in flight.
            assert!((10..10 + concurrency).contains(&attempts), "{attempts}");
        }
        assert!(
            p.final_statuses().values().all(|s| s == "deferred"),
            "concurrency {concurrency}: {:?}",
            statuses(&p)
        );

        let good = Scripted::accepting();
        repoint(&p, server.port, good.port);
        p.send(&[]).success().stdout_has("sent:         200");
        let got = good.delivered();
        assert_eq!(got.len(), 200);
        assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 200);
    }
}

/// One domain refusing all its readers alike is not the relay's word on
/// us: each is `failed` (not bounced), and the cause is one loud warning.
#[test]
fn one_domain_refusing_every_reader_alike_fails_them_with_one_loud_warning() {
    let server = Scripted::start(Offer::default(), |c, to| {
        (c == Cmd::Dot).then(|| Act::Owned(format!("554 Message rejected for <{to}>")))
    });
    let p = Project::sample();
    p.with_readers(40)
        .with_server(server.port, "", "concurrency = 2");
    p.send(&[])
        .failure()
        .stdout_has("failed:       40")
        .stdout_has("40 × 554 Message rejected for <…>")
        .stderr_has("warning: 40 readers refused for no stated reason by example.org");
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("40 × 554 Message rejected for <…>")
        .stderr_has("warning: 40 readers refused for no stated reason by example.org");
    assert!(
        p.read("subscribers.example.csv")
            .lines()
            .all(|l| !l.contains("bounced"))
    );
}

/// A reader whose own mailbox is refused is `failed`, even among readers
/// who are refused ambiguously: only a streak trips the breaker.
#[test]
fn a_mailbox_refused_after_the_dot_fails_that_reader_only() {
    let server = Scripted::start(Offer::default(), |c, to| {
        (c == Cmd::Dot && to.starts_with("r1"))
            .then_some(Act::Reply("550 5.1.1 Mailbox does not exist"))
    });
    let p = Project::sample();
    p.with_readers(30)
        .with_server(server.port, "", "concurrency = 2");
    p.send(&[]).failure().stdout_has("failed:       11");
    assert_eq!(server.delivered().len(), 19);
}

#[test]
fn a_relay_that_is_down_ends_a_thousand_reader_run_within_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let p = Project::sample();
    p.with_readers(1000)
        .with_server(port, "", "concurrency = 4");
    let start = Instant::now();
    let run = p.send(&[]);
    let took = start.elapsed();
    run.failure().stderr_has(&format!(
        "cannot connect to 127.0.0.1:{port}: connection refused"
    ));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(sending_rows(&p) <= 4, "{} attempts", sending_rows(&p));
    assert_eq!(statuses(&p).get("failed"), None);
    // A test copy says the same.
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "ed@example.org",
    ])
    .failure()
    .stderr_has("connection refused");
}

/// After connections succeeded, a relay that goes away ends the run after
/// a few failed connections in a row, not after every reader's retries.
#[test]
fn a_relay_that_dies_mid_run_ends_it_after_a_few_failed_connections() {
    let server = Scripted::start(Offer::default(), |c, to| {
        // Every reader past r9 makes the connection drop before RCPT's reply.
        (c == Cmd::Rcpt && to.len() > "r9@example.org".len()).then_some(Act::Drop)
    });
    let port = server.port;
    let p = Project::sample();
    p.with_readers(500).with_server(
        port,
        "",
        &format!("concurrency = 1\nmax_attempts = 50\n{FAST_RETRY}"),
    );
    // Once the first ten are delivered, nothing listens any more.
    let stopper = std::thread::spawn(move || {
        let start = Instant::now();
        while server.delivered().len() < 10 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(server);
    });
    let start = Instant::now();
    let run = p.send(&[]);
    stopper.join().expect("stopper");
    run.failure().stderr_has("cannot connect to");
    assert!(start.elapsed() < Duration::from_secs(30));
    let st = statuses(&p);
    assert_eq!(st.get("sent"), Some(&10), "{st:?}");
    assert_eq!(st.get("failed"), None, "{st:?}");
}

#[test]
fn an_international_domain_goes_out_as_its_a_label_and_stays_as_written_in_the_log() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "email,name,status\nbob@bücher.de,Bob,\nann@example.org,Ann,\n",
    )
    .with_server(sink.port, "", "concurrency = 1");
    p.send(&[]).success().stdout_has("sent:         2");
    let got: BTreeSet<String> = sink.settled().into_iter().map(|r| r.rcpt).collect();
    assert!(got.contains("bob@xn--bcher-kva.de"), "{got:?}");
    assert!(p.final_statuses().contains_key("bob@bücher.de"));
}

#[test]
fn a_non_ascii_local_part_uses_smtputf8_where_offered_and_fails_alone_where_not() {
    let list = "email,name,status\njürgen@bücher.de,Jürgen,\nann@example.org,Ann,\n";
    let with = Scripted::accepting();
    let p = Project::sample();
    p.write("subscribers.example.csv", list)
        .with_server(with.port, "", "concurrency = 1");
    p.send(&[]).success().stdout_has("sent:         2");
    let messages = with.messages();
    let jurgen = messages
        .iter()
        .find(|m| m.rcpt == ["jürgen@xn--bcher-kva.de"])
        .expect("Jürgen's message");
    assert!(
        jurgen.mail_from.ends_with(" SMTPUTF8"),
        "{}",
        jurgen.mail_from
    );
    let head = String::from_utf8_lossy(&jurgen.data);
    assert!(
        head.contains("To: Jürgen <jürgen@xn--bcher-kva.de>")
            || head.contains("<jürgen@xn--bcher-kva.de>"),
        "{head}"
    );
    let ann = messages
        .iter()
        .find(|m| m.rcpt == ["ann@example.org"])
        .expect("Ann's");
    assert!(!ann.mail_from.contains("SMTPUTF8"));

    let without = Scripted::start(
        Offer {
            smtputf8: false,
            pipelining: true,
        },
        |_, _| None,
    );
    let p = Project::sample();
    p.write("subscribers.example.csv", list)
        .with_server(without.port, "", "concurrency = 1");
    p.send(&[])
        .failure()
        .stdout_has("sent:         1")
        .stdout_has("failed:       1");
    assert_eq!(without.delivered(), vec!["ann@example.org".to_owned()]);
    let rows = p.log_rows();
    let failed = rows
        .iter()
        .find(|r| r.status == "failed")
        .expect("a failed row");
    assert_eq!(failed.email, "jürgen@bücher.de");
    assert!(failed.detail.contains("SMTPUTF8"), "{failed:?}");
}

/// What the server received, un-dot-stuffed, is byte for byte what the
/// dry-run wrote, with and without pipelining, for a story line that
/// starts with a dot.
#[test]
fn the_server_receives_exactly_what_the_dry_run_wrote() {
    for pipelining in [true, false] {
        let server = Scripted::start(
            Offer {
                pipelining,
                smtputf8: false,
            },
            |_, _| None,
        );
        let p = Project::sample();
        p.edit(
            "issues/2022-08-01.toml",
            "Secretary of State Blinken",
            ".dotted line first\n\n..and another\n\nSecretary of State Blinken",
        );
        p.with_readers(3)
            .with_server(server.port, "", "concurrency = 1");
        p.dry_run_fresh("preview").success();
        p.send(&[]).success();
        let messages = server.messages();
        assert_eq!(messages.len(), 3);
        for m in messages {
            let eml = eml(&p, "preview", &m.rcpt[0]);
            assert!(
                m.data == eml,
                "pipelining {pipelining}: {} differs from the dry-run",
                m.rcpt[0]
            );
            assert!(String::from_utf8_lossy(&m.data).contains("\r\n.dotted line first"));
        }
        let raw = server.log.lock().expect("log").raw.clone();
        assert!(String::from_utf8_lossy(&raw).contains("\r\n..dotted line first"));
        assert!(String::from_utf8_lossy(&raw).contains("\r\n...and another"));
    }
}

#[test]
fn a_stall_after_the_dot_is_unknown_and_after_data_a_retry() {
    let server = Scripted::start(Offer::default(), |c, _| {
        (c == Cmd::Dot).then_some(Act::Stall(Duration::from_secs(3)))
    });
    let p = Project::sample();
    p.with_readers(2)
        .with_server(server.port, "data_timeout_secs = 1", "concurrency = 1");
    p.send(&[]).failure().stdout_has("unknown:      2");
    assert!(p.log_rows().iter().any(|r| {
        r.detail
            .contains("no reply to the end of the message within 1s")
    }));

    let server = Scripted::start(Offer::default(), |c, _| {
        (c == Cmd::Data).then_some(Act::Stall(Duration::from_secs(3)))
    });
    let p = Project::sample();
    p.with_readers(1).with_server(
        server.port,
        "",
        &format!("concurrency = 1\nmax_attempts = 1\n{FAST_RETRY}"),
    );
    p.edit("config.toml", "timeout_secs = 5", "timeout_secs = 1");
    p.send(&[]).failure().stdout_has("deferred:     1");
    assert!(server.delivered().is_empty());
}

#[test]
fn a_multi_line_refusal_is_logged_whole_and_failures_are_grouped_by_reply() {
    let server = Scripted::start(Offer::default(), |c, to| {
        (c == Cmd::Rcpt && to.starts_with("r1")).then(|| {
            Act::Owned(format!(
                "550-5.1.1 <{to}>: Recipient address rejected\n550 5.1.1 User unknown in virtual mailbox table"
            ))
        })
    });
    let p = Project::sample();
    p.with_readers(20)
        .with_server(server.port, "", "concurrency = 2");
    p.send(&[]).failure().stdout_has("failed:       11");
    let rows = p.log_rows();
    let failed = rows.iter().find(|r| r.status == "failed").expect("failed");
    assert!(
        failed.detail.contains("Recipient address rejected")
            && failed
                .detail
                .contains("User unknown in virtual mailbox table"),
        "{failed:?}"
    );
    let human = p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"]);
    human.success().stdout_has(
        "11 × 550 5.1.1 <…>: Recipient address rejected User unknown in virtual mailbox table",
    );
    // The same figures for scripts, as JSON.
    let json = p.bulletin(&["status", "--issue", "issues/2022-08-01.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.success().stdout).expect("JSON");
    assert_eq!(v["failed"], 11, "{v}");
    assert_eq!(v["log_found"], true, "{v}");
    assert_eq!(
        v["failures"][0]["reply"],
        "550 5.1.1 <…>: Recipient address rejected User unknown in virtual mailbox table"
    );
    assert_eq!(v["failures"][0]["readers"], 11);
    for (key, label) in [
        ("sent", "sent:"),
        ("unknown", "unknown:"),
        ("deferred", "deferred:"),
        ("not_yet_sent", "not yet sent:"),
    ] {
        let shown = human
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {label} line"));
        assert_eq!(v[key], shown, "{key}: {v}");
    }
    // The same readers, once the server takes them: --retry-failed sends to
    // them and only to them.
    let good = Scripted::accepting();
    repoint(&p, server.port, good.port);
    p.send(&[])
        .failure()
        .stdout_has("Nothing to send")
        .stdout_has("--retry-failed");
    p.send(&["--retry-failed"])
        .success()
        .stdout_has("sent:         11");
    let got = good.delivered();
    assert_eq!(got.len(), 11);
    assert!(got.iter().all(|r| r.starts_with("r1")));
}

#[test]
fn a_connection_dropped_after_mail_from_is_retried() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let drops = std::sync::Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let server = Scripted::start(Offer::default(), move |c, _| {
        (c == Cmd::Mail && d.fetch_add(1, Ordering::Relaxed) < 2).then_some(Act::Drop)
    });
    let p = Project::sample();
    p.with_readers(3)
        .with_server(server.port, "", &format!("concurrency = 1\n{FAST_RETRY}"));
    p.send(&[]).success().stdout_has("sent:         3");
    assert_eq!(server.delivered().len(), 3);
    assert!(p.log_rows().iter().any(|r| r.status == "retry"));
}

#[test]
fn ehlo_names_the_configured_host_or_a_real_domain_never_localhost() {
    let server = Scripted::accepting();
    let p = Project::sample();
    p.with_readers(1)
        .with_server(server.port, "", "concurrency = 1");
    p.send(&[]).success();
    let ehlo = server.log.lock().expect("log").ehlo.clone();
    assert!(!ehlo.is_empty());
    assert!(
        ehlo.iter().all(|h| h != "localhost" && h.contains('.')),
        "{ehlo:?}"
    );

    let server = Scripted::accepting();
    let p = Project::sample();
    p.with_readers(1).with_server(
        server.port,
        "hello_name = \"mail.example.org\"",
        "concurrency = 1",
    );
    p.send(&[]).success();
    let ehlo = server.log.lock().expect("log").ehlo.clone();
    assert!(ehlo.iter().all(|h| h == "mail.example.org"), "{ehlo:?}");

    let p = Project::sample();
    p.with_server(1, "hello_name = \"localhost\"", "");
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("config.toml:")
        .stderr_has("`hello_name`");
}

/// Test copies and an edited issue's resend get new Message-IDs; a resend
/// of the same message keeps its id; ids are keyed, not a hash of the
/// address.
#[test]
fn message_ids_are_new_for_test_copies_and_edits_and_kept_for_resends() {
    let server = Scripted::accepting();
    let p = Project::sample();
    p.with_readers(2)
        .with_server(server.port, "", "concurrency = 1");
    let id_of = |m: &crate::scripted::Message| {
        String::from_utf8_lossy(&m.data)
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_owned))
            .expect("a Message-ID")
    };
    let copy = [
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "r0@example.org",
    ];
    p.bulletin(&copy).success();
    p.bulletin(&copy).success();
    p.send(&["--limit", "1"]).success();
    let ids: Vec<String> = server.messages().iter().map(id_of).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3, "{ids:?}");
    let logged = p
        .log_rows()
        .into_iter()
        .find(|r| r.status == "sent")
        .expect("sent");
    assert_eq!(logged.message_id, ids[2]);

    // The same message again (as --resend-unknown sends it): the same id.
    let again = p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--dry-run",
            "--out",
            "again",
            "--log",
            "logs/not-sent.csv",
        ],
        &[],
    );
    again.success();
    let again_eml = String::from_utf8(eml(&p, "again", "r0@example.org")).expect("utf-8");
    assert!(again_eml.contains(&format!("Message-ID: {}", ids[2])));

    // Another secret, another id: the id is keyed.
    p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--dry-run",
            "--out",
            "other",
            "--log",
            "logs/not-sent.csv",
        ],
        &[("BULLETIN_UNSUBSCRIBE_SECRET", "another secret")],
    )
    .success();
    let other = String::from_utf8(eml(&p, "other", "r0@example.org")).expect("utf-8");
    assert!(!other.contains(&ids[2]));

    // An edited issue, sent on with --force: new ids.
    p.edit(
        "issues/2022-08-01.toml",
        "Both nations agreed",
        "Both countries agreed",
    );
    p.send(&["--force"]).success();
    let last = server.messages().last().map(id_of).expect("message");
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--dry-run",
        "--out",
        "edited",
        "--log",
        "logs/not-sent.csv",
    ])
    .success();
    let edited = String::from_utf8(eml(&p, "edited", "r0@example.org")).expect("utf-8");
    assert!(!edited.contains(&ids[2]), "the edited issue kept r0's id");
    assert!(!ids.contains(&last));
}

/// A real MTA: Postfix with STARTTLS and SMTPUTF8, delivering into a
/// Maildir. Every reader (an international domain and a UTF-8 local part
/// among them) gets one message, which Python reads without defects and
/// whose DKIM signature dkimpy verifies.
#[test]
fn postfix_over_starttls_delivers_one_clean_signed_message_to_every_reader() {
    let postfix = crate::servers::Postfix::start();
    let p = Project::sample();
    let n = 300;
    let mut list = String::from("email,name\n");
    for i in 0..n - 2 {
        list.push_str(&format!("r{i}@example.org,Reader {i}\n"));
    }
    list.push_str("bob@bücher.de,Bob\njürgen@bücher.de,Jürgen Groß\n");
    p.write("subscribers.example.csv", &list);
    let (key, record) = crate::compliance::dkim_key(&p.path("."), "rsa");
    p.write("record.txt", &record);
    p.edit(
        "config.toml",
        "host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
        &format!(
            "host = \"localhost\"\nport = {}\nsecurity = \"starttls\"\ntls_ca_file = \"{}\"\n\n[sending]\nconcurrency = 4\n",
            postfix.port,
            postfix.cert.display()
        ),
    );
    p.with_dkim(&key);
    p.send(&[])
        .success()
        .stdout_has(&format!("sent:         {n}"));
    assert_eq!(postfix.wait_for(n), n, "not every message was delivered");
    let got = crate::util::python_json(
        "read_maildir.py",
        &[postfix.maildir(), p.path("record.txt")],
    );
    assert_eq!(got.len(), n);
    let mut seen = BTreeMap::new();
    for m in &got {
        assert_eq!(m["defects"], serde_json::json!([]), "{m}");
        assert_eq!(
            m["parts"],
            serde_json::json!(["text/plain", "text/html"]),
            "{m}"
        );
        assert_eq!(m["dkim"], true, "DKIM does not verify: {m}");
        assert_eq!(m["tls"], true, "not received over TLS: {m}");
        *seen
            .entry(m["delivered_to"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    assert!(seen.values().all(|&c| c == 1), "a reader got two copies");
    assert_eq!(seen.len(), n);
    assert!(
        seen.contains_key("bob@xn--bcher-kva.de"),
        "{:?}",
        seen.keys().last()
    );
    assert!(seen.contains_key("jürgen@xn--bcher-kva.de"));
}
