//! `serve` facing strangers, over real sockets: slow clients cut off while
//! everyone else is answered, a busy list answered 503 and no change lost,
//! sign-up limits that hold behind a proxy on v4 and `[::]` listeners, and
//! confirmation mail that is neither a mail bomb nor lost when the relay
//! or the server goes away.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::serve::{Served, client, dumped, project, rows_of, unsubscribe_url, wait_for_mail};
use crate::servers::{SmtpSink, free_port};
use crate::util::PINNED_EPOCH;

const LIST: &str = "subscribers.example.csv";

/// Hundreds of clients that send half a request header and stop: the
/// server keeps answering everyone else, and cuts them off within the
/// request timeout.
#[test]
fn slow_clients_are_cut_off_and_everyone_else_is_answered() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "request_timeout_secs = 2");
    let served = Served::start(&p, port, PINNED_EPOCH);
    let base = &served.base;
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-")
                .expect("write");
            s
        })
        .collect();
    let start = Instant::now();
    let http = client();
    let (status, page) = {
        let r = http.get(format!("{base}/healthz")).send().expect("healthz");
        (r.status().as_u16(), r.text().expect("body"))
    };
    assert_eq!((status, page.as_str()), (200, "ok"));
    p.dry_run("preview").success();
    let url = unsubscribe_url(&p, "preview", "zoe@example.org");
    let r = http
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        rows_of(&p, "zoe@example.org").last().expect("row")[2],
        "unsubscribed"
    );
    // Every slow connection is closed by the server within the timeout.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "a slow connection still open after {:?}: {e}",
                start.elapsed()
            ),
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

/// A CLI command holds the list's lock longer than the server waits for
/// it: one-click POSTs get 503 with Retry-After and write nothing; none
/// gets a 200 that was not recorded; asked again once the lock is free,
/// every one is recorded.
#[test]
fn a_busy_list_is_answered_503_and_no_change_is_lost() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    let served = Served::start(&p, port, PINNED_EPOCH);
    let _ = &served;
    p.dry_run("preview").success();
    let readers = ["alice@example.org", "bob@example.org", "dana@example.org"];
    let urls: Vec<String> = readers
        .iter()
        .map(|r| unsubscribe_url(&p, "preview", r))
        .collect();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(p.path(".subscribers.example.csv.lock"))
        .expect("lock file");
    lock.lock().expect("lock");
    let before = p.read(LIST);
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let posts: Vec<_> = urls
            .iter()
            .map(|url| {
                scope.spawn(move || {
                    let r = client()
                        .post(url)
                        .form(&[("List-Unsubscribe", "One-Click")])
                        .send()
                        .expect("post");
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    (r.status().as_u16(), retry)
                })
            })
            .collect();
        posts
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    for (status, retry) in &answers {
        assert_eq!(*status, 503, "a change answered while the list was locked");
        assert!(retry.is_some(), "503 without Retry-After");
    }
    assert_eq!(p.read(LIST), before, "written while locked");
    lock.unlock().expect("unlock");
    for url in &urls {
        let r = client()
            .post(url)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    for r in readers {
        assert_eq!(
            rows_of(&p, r).last().expect("row")[2],
            "unsubscribed",
            "{r}"
        );
    }
}

/// Sign-ups a minute per client, behind a trusted proxy that says who the
/// client is: one IPv6 /64 is one client, different /64s are different
/// clients; and so on a `[::]` listener, where the proxy's address comes
/// as `::ffff:127.0.0.1`.
#[test]
fn sign_up_limits_hold_per_64_behind_a_proxy_on_v4_and_v6_listeners() {
    for listen_any in [false, true] {
        let sink = SmtpSink::start(&[]);
        let port = free_port();
        let p = project(
            port,
            &sink,
            "subscribe_limit_per_minute = 3\ntrusted_proxy = [\"127.0.0.1\", \"::1\"]",
        );
        let listen = if listen_any {
            format!("[::]:{port}")
        } else {
            format!("127.0.0.1:{port}")
        };
        let served = Served::start_listening(&p, &listen, port, PINNED_EPOCH);
        let sign_up = |n: u32, forwarded: &str| {
            client()
                .post(format!("{}/subscribe", served.base))
                .header("X-Forwarded-For", forwarded)
                .form(&[("email", format!("r{n}@example.net"))])
                .send()
                .expect("post")
                .status()
                .as_u16()
        };
        // One /64: three, then 429.
        let one: Vec<u16> = (0..5)
            .map(|i| sign_up(i, &format!("198.51.100.1, [2001:db8:1:2::{:x}]:443", i + 1)))
            .collect();
        assert_eq!(one, vec![200, 200, 200, 429, 429], "listen {listen}");
        // Many /64s: each its own client.
        let many: Vec<u16> = (0..5)
            .map(|i| {
                sign_up(
                    10 + i,
                    &format!("198.51.100.1, 2001:db8:1:{:x}::1", 100 + i),
                )
            })
            .collect();
        assert_eq!(many, vec![200; 5], "listen {listen}");
        // What the client wrote itself (a fresh address each time) left
        // of an entry we cannot read: the walk stops at the unreadable
        // one, and the proxy's own address is counted, not a fresh one.
        let forged: Vec<u16> = (0..5)
            .map(|i| sign_up(20 + i, &format!("203.0.113.{i}, unknown")))
            .collect();
        assert_eq!(forged, vec![200, 200, 200, 429, 429], "listen {listen}");
    }
}

/// Ten sign-ups for one address, from anywhere: one mail, and no word of
/// the requester's in it.
#[test]
fn ten_sign_ups_for_one_address_send_one_mail() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "subscribe_limit_per_minute = 100");
    let served = Served::start(&p, port, PINNED_EPOCH);
    for i in 0..10 {
        let status = client()
            .post(format!("{}/subscribe", served.base))
            .form(&[
                ("email", "target@example.net"),
                ("name", &format!("Buy pills now {i}")),
            ])
            .send()
            .expect("post")
            .status();
        assert_eq!(status, 200);
    }
    wait_for_mail(&sink, "target@example.net", 1);
    std::thread::sleep(Duration::from_millis(1500));
    let mails = dumped(&sink);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = std::fs::read_to_string(&mails[0]).expect("mail");
    assert!(!mail.contains("pills"), "{mail}");
    assert_eq!(rows_of(&p, "target@example.net").len(), 1);
}

/// The relay is down when readers sign up, and `serve` is restarted before
/// it comes back: every confirmation is delivered once it does.
#[test]
fn confirmations_survive_a_relay_outage_and_a_restart() {
    let relay_port = free_port();
    let port = free_port();
    // The config points at a relay that is not there yet.
    let placeholder = SmtpSink::start(&[]);
    let p = project(port, &placeholder, "");
    p.edit(
        "config.toml",
        &format!("port = {}\n", placeholder.port),
        &format!("port = {relay_port}\n"),
    );
    drop(placeholder);
    let served = Served::start(&p, port, PINNED_EPOCH);
    let who: Vec<String> = (0..5).map(|i| format!("w{i}@example.net")).collect();
    for w in &who {
        let status = client()
            .post(format!("{}/subscribe", served.base))
            .form(&[("email", w.as_str())])
            .send()
            .expect("post")
            .status();
        assert_eq!(status, 200);
    }
    std::thread::sleep(Duration::from_secs(2));
    // Meanwhile the editor can see that mail is waiting.
    p.bulletin(&["list"])
        .success()
        .stdout_has("5 sign-ups waiting whose confirmation mail has not gone");
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("5 web sign-ups wait for a confirmation mail");
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(3));
    let relay = SmtpSink::start_on(relay_port, &[]);
    for w in &who {
        wait_for_mail(&relay, w, 1);
    }
    drop(served);
    let listed = p.bulletin(&["list"]);
    assert!(!listed.stdout.contains("has not gone"), "{}", listed.stdout);
    let ledger = p.read("subscribers.example.confirmations.csv");
    assert_eq!(
        ledger.lines().filter(|l| l.contains(",sent,")).count(),
        5,
        "{ledger}"
    );
    // A restart now mails nobody again.
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(2));
    drop(served);
    assert_eq!(dumped(&relay).len(), 5);
}
