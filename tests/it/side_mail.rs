//! `serve`'s own mail and quotas where features meet (issue 25): a
//! stranger's sign-up never names a reader, confirmations and welcomes
//! are logged like an issue (a lost reply to the final dot is `unknown`
//! and never sent again, with or without a kill of `serve`; a mailbox
//! refusal is a bounce), and a relay's daily limit holds across two sends
//! at once and `serve`'s mail, counted at the relay.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::scripted::{Act, Cmd, Offer, Scripted};
use crate::serve::{
    Served, client, confirm_as_shown, project, project_on, rows_of, text, wait_for_mail,
};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project, inspect_eml};
use crate::welcome::{WELCOME, write_welcome};

const LIST: &str = "subscribers.example.csv";
fn sign_up(base: &str, form: &[(&str, &str)]) -> (u16, String) {
    text(
        client()
            .post(format!("{base}/subscribe"))
            .form(form)
            .send()
            .expect("post"),
    )
}

/// Messages the scripted relay stored for `to`.
fn stored_for(relay: &Scripted, to: &str) -> usize {
    relay
        .messages()
        .iter()
        .filter(|m| m.rcpt.iter().any(|r| r == to))
        .count()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A stranger signs up someone else's address with a name meant to be
/// read as a warning; the real reader's own sign-up writes nothing and
/// brings no second mail; the confirm page shows what will be recorded,
/// in fields the reader corrects; the welcome and the list carry what the
/// reader confirmed. Names are bounded, and a sign-up never changes a
/// subscribed reader's details.
#[test]
fn a_strangers_sign_up_never_names_the_reader() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(
        port,
        &sink,
        &format!("welcome = \"{WELCOME}\"\ntopics = [\"japan\", \"korea\"]"),
    );
    write_welcome(&p);
    let served = Served::start(&p, port, PINNED_EPOCH);
    let lure = "Your account is locked - call +1-555-0100";
    let base = &served.base;
    assert_eq!(
        sign_up(
            base,
            &[
                ("email", "vic@example.net"),
                ("name", lure),
                ("topic-korea", "yes")
            ]
        )
        .0,
        200
    );
    assert_eq!(
        sign_up(base, &[("email", "vic@example.net"), ("name", "Vic")]).0,
        200
    );
    let link = wait_for_mail(&sink, "vic@example.net", 1).remove(0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        wait_for_mail(&sink, "vic@example.net", 1).len(),
        1,
        "a second mail"
    );
    let (status, page) = text(client().get(&link).send().expect("get"));
    assert_eq!(status, 200);
    assert!(page.contains(&format!("value=\"{lure}\"")), "{page}");
    assert!(
        page.contains("name=\"topic-korea\" value=\"yes\" checked"),
        "{page}"
    );
    let (status, page) = confirm_as_shown(&link, Some("Vic"));
    assert_eq!(status, 200, "{page}");
    wait_until("no welcome", || {
        crate::serve::dumped(&sink)
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains("Subject: Welcome")))
    });
    let welcome: Vec<_> = crate::serve::dumped(&sink)
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains("Subject: Welcome")))
        .collect();
    let seen = &inspect_eml(&welcome)[0];
    assert_eq!(seen["headers"]["Subject"], "Welcome, Vic");
    assert_eq!(seen["headers"]["To"], "Vic <vic@example.net>");
    let rows = rows_of(&p, "vic@example.net");
    let last = rows.last().expect("row");
    assert_eq!((last[1].as_str(), last[2].as_str()), ("Vic", "subscribed"));
    // Names: at most 100 characters, no line breaks; a 400 page, nothing
    // written.
    let before = p.read(LIST);
    let long = "n".repeat(101);
    for name in [long.as_str(), "Ann\r\nBcc: x@y.z"] {
        let (status, page) = sign_up(base, &[("email", "new@example.net"), ("name", name)]);
        assert_eq!(status, 400, "{page}");
    }
    assert!(
        sign_up(
            base,
            &[("email", "new@example.net"), ("name", &"n".repeat(100))]
        )
        .0 == 200
    );
    assert_eq!(
        p.read(LIST).lines().count(),
        before.lines().count() + 1,
        "only the 100-character name was taken"
    );
    // A sign-up of a subscribed reader changes nothing of theirs.
    let before = p.read(LIST);
    sign_up(base, &[("email", "alice@example.org"), ("name", lure)]);
    assert_eq!(p.read(LIST), before);
    drop(served);
    p.dry_run("preview").success();
    let alice = crate::util::paths_in(&p.path("preview"), "eml")
        .into_iter()
        .find(|f| f.to_string_lossy().contains("alice"))
        .expect("alice");
    assert_eq!(
        inspect_eml(&[alice])[0]["headers"]["To"],
        "Alice Example <alice@example.org>"
    );
}

/// The relay stores a confirmation but its reply to the final dot never
/// comes: `unknown`, not sent again, and `list` and `status` say so; a
/// `kill -9` of `serve` while it waits and a restart send nothing more.
#[test]
fn a_confirmation_whose_reply_was_lost_is_sent_once_across_a_kill() {
    let relay = Scripted::start(Offer::default(), |cmd, _| {
        (cmd == Cmd::Dot).then_some(Act::Stall(Duration::from_secs(60)))
    });
    let port = free_port();
    let p = project_on(port, relay.port, "data_timeout_secs = 2", "");
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(&served.base, &[("email", "vic@example.net")]);
    wait_until("nothing stored", || {
        stored_for(&relay, "vic@example.net") == 1
    });
    // kill -9 while serve waits for the reply; then start again.
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        stored_for(&relay, "vic@example.net"),
        1,
        "sent again after a restart"
    );
    // Without a restart: the lost reply is `unknown` after the data
    // timeout, and nothing is sent again.
    sign_up(&served.base, &[("email", "wes@example.net")]);
    wait_until("nothing stored", || {
        stored_for(&relay, "wes@example.net") == 1
    });
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(stored_for(&relay, "wes@example.net"), 1, "sent again");
    drop(served);
    let ledger = p.read("subscribers.example.confirmations.csv");
    assert!(
        ledger.contains("wes@example.net,1659348000,unknown,"),
        "{ledger}"
    );
    p.bulletin(&["list"])
        .success()
        .stdout_has("2 confirmations unknown");
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("2 confirmation mails from `serve` are unknown");
}

/// The relay takes the confirmation, then stores the welcome without a
/// reply to its final dot: the welcome is `unknown` and never sent again,
/// across a `kill -9` of `serve` too.
#[test]
fn a_welcome_whose_reply_was_lost_is_sent_once_across_a_kill() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let relay = Scripted::start(Offer::default(), move |cmd, to| {
        // The second message to Vic (the welcome) gets no reply.
        (cmd == Cmd::Dot && to == "vic@example.net" && counter.fetch_add(1, Ordering::SeqCst) >= 1)
            .then_some(Act::Stall(Duration::from_secs(60)))
    });
    let port = free_port();
    let p = project_on(
        port,
        relay.port,
        "data_timeout_secs = 2",
        &format!("welcome = \"{WELCOME}\""),
    );
    write_welcome(&p);
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(
        &served.base,
        &[("email", "vic@example.net"), ("name", "Vic")],
    );
    wait_until("no confirmation", || {
        stored_for(&relay, "vic@example.net") == 1
    });
    let raw = String::from_utf8_lossy(&relay.messages()[0].data).replace("=\r\n", "");
    let at = raw.find("/confirm/").expect("link");
    let start = raw[..at].rfind("http").expect("http");
    let end = raw[at..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || "/-_:.".contains(c)))
        .map_or(raw.len(), |i| at + i);
    assert_eq!(confirm_as_shown(&raw[start..end], None).0, 200);
    wait_until("no welcome", || stored_for(&relay, "vic@example.net") == 2);
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(5));
    drop(served);
    assert_eq!(stored_for(&relay, "vic@example.net"), 2, "welcomed twice");
    p.bulletin(&["list"])
        .success()
        .stdout_has("1 welcome unknown");
}

/// A relay that refuses the mailbox as unknown: the confirmation is
/// `failed` and not retried, and the address is `bounced` by the consent
/// table, so a second sign-up mails nothing.
#[test]
fn a_confirmation_refused_for_an_unknown_mailbox_bounces_the_address() {
    let relay = Scripted::start(Offer::default(), |cmd, to| {
        (cmd == Cmd::Rcpt && to == "ghost@example.net").then_some(Act::Reply(
            "550 5.1.1 <ghost@example.net>: Recipient address rejected: User unknown",
        ))
    });
    let port = free_port();
    let p = project_on(port, relay.port, "", "");
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(&served.base, &[("email", "ghost@example.net")]);
    wait_until("not bounced", || {
        rows_of(&p, "ghost@example.net")
            .last()
            .is_some_and(|r| r[2] == "bounced")
    });
    std::thread::sleep(Duration::from_secs(3));
    sign_up(&served.base, &[("email", "ghost@example.net")]);
    std::thread::sleep(Duration::from_secs(1));
    drop(served);
    let tries = relay
        .log
        .lock()
        .expect("log")
        .raw
        .windows(b"RCPT TO:<ghost@".len())
        .filter(|w| *w == b"RCPT TO:<ghost@")
        .count();
    assert_eq!(tries, 1, "retried");
    let ledger = p.read("subscribers.example.confirmations.csv");
    assert!(ledger.contains(",failed,550 5.1.1"), "{ledger}");
}

fn relay_rcpts(sink: &SmtpSink) -> usize {
    sink.settled().len()
}

/// Two sends of two issues started together through one relay with a
/// daily limit share it: the relay gets the limit, not twice it.
#[test]
fn two_sends_at_once_share_a_relays_daily_limit() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "daily_limit = 5", "concurrency = 1\nrate = 20");
    let mut list = String::from("email,name,status,changed\n");
    for i in 0..8 {
        list.push_str(&format!("r{i}@example.org,R,,\n"));
    }
    p.write(LIST, list);
    let issue = p.read("issues/2022-08-01.toml");
    p.write(
        "issues/2022-08-15.toml",
        issue.replacen("date = 2022-08-01", "date = 2022-08-15", 1),
    );
    let sends: Vec<_> = ["issues/2022-08-01.toml", "issues/2022-08-15.toml"]
        .iter()
        .map(|issue| {
            p.command(&["send", "--issue", issue, "--yes"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("send")
        })
        .collect();
    let mut said = String::new();
    for send in sends {
        let out = send.wait_with_output().expect("send");
        said.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(relay_rcpts(&sink), 5, "{said}");
    assert!(said.contains("daily limit is used"), "{said}");
    let book = p.read("relay-quota.csv");
    assert!(book.starts_with("time,relay,messages\n"), "{book}");
}

/// `serve`'s confirmations count toward the relay's daily limit: a send
/// after two of them gets the rest of the limit.
#[test]
fn serves_mail_counts_toward_the_daily_limit() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    p.edit(
        "config.toml",
        "timeout_secs = 5\n",
        "timeout_secs = 5\ndaily_limit = 4\n",
    );
    let served = Served::start(&p, port, PINNED_EPOCH);
    for who in ["a@example.net", "b@example.net"] {
        sign_up(&served.base, &[("email", who)]);
        wait_for_mail(&sink, who, 1);
    }
    drop(served);
    p.send(&[]).failure().stdout_has("daily limit is used");
    assert_eq!(relay_rcpts(&sink), 4, "two confirmations and two readers");
}
