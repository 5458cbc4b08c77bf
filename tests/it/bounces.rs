//! `bulletin bounces`: real DSNs from a whole Postfix relaying one domain
//! to an smtp-sink that refuses every recipient; fixtures for what no
//! local server makes (ARF, a DSN without our VERP address, `delayed`, an
//! out-of-office reply, a free-text bounce, a mailed unsubscribe); mbox;
//! kill -9 mid-run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::servers::{Dovecot, Postfix, SmtpSink};
use crate::util::Project;

const LIST: &str = "subscribers.example.csv";

pub fn with_bounces(p: &Project, extra: &str) {
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[bounces]\naddress = \"bounces@example.org\"\n{extra}\n"),
    );
}

/// Sends go to `postfix` over STARTTLS.
pub fn to_postfix(p: &Project, postfix: &Postfix) {
    p.edit(
        "config.toml",
        "host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
        &format!(
            "host = \"localhost\"\nport = {}\nsecurity = \"starttls\"\ntls_ca_file = \"{}\"\n",
            postfix.port,
            postfix.cert.display()
        ),
    );
}

/// `bounces` reads `dovecot` over IMAP; the environment that logs in.
pub fn with_imap(p: &Project, dovecot: &Dovecot) -> [(&'static str, &'static str); 1] {
    p.edit(
        "config.toml",
        "address = \"bounces@example.org\"",
        &format!(
            "address = \"bounces@example.org\"\nimap = \"imaps://localhost:{}/INBOX\"\nusername = \"bounces@example.org\"\ntls_ca_file = \"{}\"",
            dovecot.port,
            dovecot.cert.display()
        ),
    );
    [("BULLETIN_IMAP_PASSWORD", "secret")]
}

/// An smtp-sink that refuses every recipient as unknown: behind Postfix,
/// real DSNs come back.
pub fn unknown_users() -> SmtpSink {
    SmtpSink::start(&[
        "-f",
        "RCPT",
        "-B",
        "550 5.1.1 <x>: Recipient address rejected: User unknown",
    ])
}

/// Each address's last status on the list.
pub fn statuses(p: &Project) -> std::collections::BTreeMap<String, String> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(p.path(LIST))
        .expect("list")
        .records()
        .map(|r| r.expect("row"))
        .map(|r| {
            (
                r[0].to_lowercase(),
                r.get(2)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("subscribed")
                    .to_owned(),
            )
        })
        .collect()
}

/// The names of the files in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    files_in(dir)
        .iter()
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn real_dsns_from_postfix_mark_exactly_the_refused_readers() {
    let refusing = unknown_users();
    let postfix = Postfix::relaying("bounce.test", refusing.port);
    let p = Project::sample();
    let mut list = String::from("email,name\n");
    for i in 0..20 {
        list.push_str(&format!("r{i}@example.org,Reader {i}\n"));
    }
    for i in 0..5 {
        list.push_str(&format!("gone{i}@bounce.test,Gone {i}\n"));
    }
    p.write(LIST, &list);
    to_postfix(&p, &postfix);
    with_bounces(&p, "");
    // Postfix takes all 25, delivers 20 and returns 5 DSNs to the VERP
    // senders, into the same Maildir.
    p.send(&[]).success().stdout_has("sent:         25");
    assert_eq!(postfix.wait_for(25), 25, "the DSNs did not arrive");
    let maildir = postfix.maildir();
    let returned: Vec<String> = files_in(&maildir.join("new"))
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("mail"))
        .filter(|m| m.contains("report-type=delivery-status"))
        .collect();
    assert_eq!(returned.len(), 5);
    assert!(
        returned[0].contains("Delivered-To: bounces+"),
        "{}",
        returned[0]
    );

    // The same mail as an mbox, for a second run on a copy of the list.
    let mut mbox = String::new();
    for f in files_in(&maildir.join("new")) {
        let text = std::fs::read_to_string(&f).expect("mail");
        mbox.push_str("From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n");
        for line in text.lines() {
            if line.starts_with("From ") {
                mbox.push('>');
            }
            mbox.push_str(line);
            mbox.push('\n');
        }
        mbox.push('\n');
    }
    p.write("returned.mbox", &mbox);
    let list_before = p.read(LIST);
    // And over IMAP: Dovecot serving a copy of the same Maildir.
    let dovecot = Dovecot::start(&maildir);

    let dir = maildir.display().to_string();
    p.bulletin(&["bounces", "--maildir", &dir, "--dry-run"])
        .success()
        .stdout_has("5 hard bounces")
        .stdout_has("5 readers would be marked bounced");
    assert_eq!(p.read(LIST), list_before, "a dry run wrote");
    p.bulletin(&["bounces", "--maildir", &dir])
        .success()
        .stdout_has("25 messages read: 5 hard bounces")
        .stdout_has("20 not ours")
        .stdout_has("5 readers were marked bounced");
    let st = statuses(&p);
    for (email, status) in &st {
        let want = if email.ends_with("@bounce.test") {
            "bounced"
        } else {
            "subscribed"
        };
        assert_eq!(status, want, "{email}");
    }
    // The DSNs moved to cur/ with the Seen flag; the rest untouched.
    assert_eq!(files_in(&maildir.join("new")).len(), 20);
    let cur = files_in(&maildir.join("cur"));
    assert_eq!(cur.len(), 5);
    assert!(cur.iter().all(|f| f.to_string_lossy().ends_with(":2,S")));
    // The reason is kept beside the list.
    let history = p.read("subscribers.example.bounces.csv");
    assert_eq!(history.lines().filter(|l| l.contains(",hard,")).count(), 5);
    assert!(history.contains("5.1.1"), "{history}");

    // Twice: nothing more.
    let after = p.read(LIST);
    p.bulletin(&["bounces", "--maildir", &dir])
        .success()
        .stdout_has("0 hard bounces")
        .stdout_has("0 readers were marked bounced");
    assert_eq!(p.read(LIST), after);
    // Skipped by the next send.
    p.dry_run_fresh("next")
        .success()
        .stdout_has("recipients:   20")
        .stdout_has("5 bounced");

    // The mbox gives the same, and remembers what it did.
    p.write(LIST, &list_before);
    std::fs::remove_file(p.path("subscribers.example.bounces.csv")).expect("rm");
    p.bulletin(&["bounces", "--mbox", "returned.mbox"])
        .success()
        .stdout_has("5 hard bounces");
    assert_eq!(statuses(&p), st);
    p.bulletin(&["bounces", "--mbox", "returned.mbox"])
        .success()
        .stdout_has("20 messages read: 0 hard bounces");
    assert_eq!(p.read("returned.mbox"), mbox, "the mbox was changed");

    // IMAP gives the same, and flags what it used \Seen.
    p.write(LIST, &list_before);
    std::fs::remove_file(p.path("subscribers.example.bounces.csv")).expect("rm");
    let imap = with_imap(&p, &dovecot);
    p.bulletin_with(&["bounces"], &imap)
        .success()
        .stdout_has("25 messages read: 5 hard bounces");
    assert_eq!(statuses(&p), st);
    assert_eq!(dovecot.seen(), 5, "not flagged \\Seen");
    p.bulletin_with(&["bounces"], &imap)
        .success()
        .stdout_has("20 messages read: 0 hard bounces");
    p.bulletin_with(&["bounces"], &[("BULLETIN_IMAP_PASSWORD", "wrong")])
        .failure()
        .stderr_has("login refused");
}

/// A delivery log naming each reader's message by digest, for issue `issue`.
pub fn log_with(p: &Project, issue: &str, readers: &[(&str, &str)]) {
    let mut log = String::from("timestamp,email,status,attempts,code,detail,message_id\n");
    for (email, digest) in readers {
        log.push_str(&format!(
            "2022-08-01T00:00:00Z,{email},sent,1,250,ok,<{digest}@example.org>\n"
        ));
    }
    p.write(&format!("logs/{issue}.csv"), log);
}

/// The token a reader's List-Unsubscribe mailto carries, from the dry-run
/// in `preview`.
fn mailto_token(p: &Project, reader: &str) -> String {
    let eml = p
        .files_in("preview")
        .into_iter()
        .find(|f| f.contains(reader))
        .expect("the reader's .eml");
    let raw = p.read(&format!("preview/{eml}"));
    raw.split("subject=unsubscribe-")
        .nth(1)
        .and_then(|t| t.split('>').next())
        .expect("token")
        .to_owned()
}

pub fn digest(i: u32) -> String {
    format!("{i:032x}")
}

/// A DSN to `to` about `recipient`'s copy.
pub fn dsn(
    to: &str,
    recipient: &str,
    action: &str,
    status: &str,
    original_id: Option<&str>,
    id: &str,
) -> String {
    let original = match original_id {
        Some(mid) => format!(
            "--B\nContent-Type: text/rfc822-headers\n\nFrom: digest@example.org\nMessage-ID: {mid}\nSubject: x\n\n"
        ),
        None => String::new(),
    };
    format!(
        "From: MAILER-DAEMON@relay.test\nTo: {to}\nMessage-ID: <{id}@relay.test>\nSubject: Delivery Status Notification\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.test\n\nFinal-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\nDiagnostic-Code: smtp; {status} mailbox trouble\n\n{original}--B--\n"
    )
}

pub fn maildir_with(p: &Project, mails: &[(&str, String)]) -> PathBuf {
    let dir = p.path("returns");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    for (name, text) in mails {
        std::fs::write(dir.join("new").join(name), text).expect("write");
    }
    dir
}

#[test]
fn reports_complaints_and_unsubscribes_each_do_what_they_should() {
    let p = Project::sample();
    with_bounces(&p, "soft_limit = 2");
    log_with(
        &p,
        "2022-08-01",
        &[
            ("alice@example.org", &digest(1)),
            ("bob@example.org", &digest(2)),
            ("zoe@example.org", &digest(3)),
            ("dana@example.org", &digest(4)),
        ],
    );
    log_with(&p, "2022-08-15", &[("dana@example.org", &digest(5))]);
    p.dry_run_fresh("preview").success();
    let token = mailto_token(&p, "zoe");
    let verp = |d: &str| format!("bounces+{}@example.org", d.to_uppercase());
    let mails = vec![
        // A DSN whose envelope a relay rewrote: found by the original's id.
        ("1.hard", dsn("digest@example.org", "alice@example.org", "failed", "5.1.1", Some(&format!("<{}@example.org>", digest(1))), "h1")),
        // A delay: the mail may still arrive, so it never counts.
        ("2.soft", dsn(&verp(&digest(2)), "bob@example.org", "delayed", "4.4.7", None, "s1")),
        // Dana's two soft bounces on two issues: bounced (limit 2).
        ("3.soft", dsn(&verp(&digest(4)), "dana@example.org", "failed", "4.4.7", None, "s2")),
        ("4.soft", dsn(&verp(&digest(5)), "dana@example.org", "failed", "4.2.2", None, "s3")),
        // A complaint (ARF) with the original attached.
        ("5.arf", format!(
            "From: fbl@isp.test\nTo: {}\nMessage-ID: <arf1@isp.test>\nSubject: complaint\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n\n--F\nContent-Type: text/plain\n\nA complaint.\n\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: isp/1.0\nVersion: 1\n\n--F\nContent-Type: message/rfc822\n\nFrom: digest@example.org\nTo: zoe@example.org\nMessage-ID: <{}@example.org>\nSubject: the issue\n\nbody\n--F--\n",
            verp(&digest(3)), digest(3))),
        // An out-of-office reply to our VERP address: never a bounce.
        ("6.ooo", format!(
            "From: alice@example.org\nTo: {}\nMessage-ID: <ooo@example.org>\nAuto-Submitted: auto-replied\nSubject: Out of Office: the issue\n\nI am away; mail delivery failed to reach me 5.1.1 no such user (a joke).\n",
            verp(&digest(1)))),
        // A free-text bounce to our VERP address with a clear failure.
        ("7.text", format!(
            "From: postmaster@old.test\nTo: {}\nMessage-ID: <t1@old.test>\nSubject: Undeliverable: the issue\n\nDelivery has failed to these recipients:\n\nbob@example.org\n550 5.1.1 The email account does not exist\n",
            verp(&digest(2)))),
        // A free-text one without a status code: not understood.
        ("8.vague", format!(
            "From: postmaster@odd.test\nTo: {}\nMessage-ID: <v1@odd.test>\nSubject: Returned mail: see transcript\n\nSomething went wrong.\n",
            verp(&digest(4)))),
        // A mailed unsubscribe (the List-Unsubscribe mailto).
        ("9.unsub", format!(
            "From: zoe@example.org\nTo: unsubscribe@example.org\nMessage-ID: <u1@example.org>\nSubject: unsubscribe-{token}\n\n"
        )),
        // A stranger's mail.
        ("10.other", "From: x@y.test\nTo: bounces@example.org\nMessage-ID: <o@y.test>\nSubject: hello\n\nhi\n".to_owned()),
    ];
    let dir = maildir_with(&p, &mails);
    let d = dir.display().to_string();
    p.bulletin(&["bounces", "--maildir", &d])
        .success()
        .stdout_has("10 messages read: 2 hard bounces, 2 soft bounces, 0 refusals not about the reader, 1 complaints, 1 unsubscribes; 4 not ours");
    let st = statuses(&p);
    assert_eq!(
        st["alice@example.org"], "bounced",
        "the relay-rewritten DSN"
    );
    assert_eq!(st["bob@example.org"], "bounced", "the free-text bounce");
    assert_eq!(
        st["dana@example.org"], "bounced",
        "two soft bounces, two issues"
    );
    // Zoe complained and then unsubscribed: the complaint stands first;
    // an unsubscribe of someone not mailed anyway writes nothing more.
    assert_eq!(st["zoe@example.org"], "complained");
    // Left exactly as they were: the delay, the out-of-office, the vague
    // one, the stranger.
    let left = names_in(&dir.join("new"));
    assert_eq!(left, vec!["10.other", "2.soft", "6.ooo", "8.vague"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("new/6.ooo")).expect("ooo"),
        mails[5].1
    );
}

#[test]
fn one_soft_bounce_is_not_enough_and_a_mailed_unsubscribe_unsubscribes() {
    let p = Project::sample();
    with_bounces(&p, "");
    log_with(&p, "2022-08-01", &[("bob@example.org", &digest(7))]);
    p.dry_run_fresh("preview").success();
    let token = mailto_token(&p, "alice");
    let dir = maildir_with(
        &p,
        &[
            (
                "1",
                dsn(
                    &format!("bounces+{}@example.org", digest(7)),
                    "bob@example.org",
                    "failed",
                    "4.4.1",
                    None,
                    "d1",
                ),
            ),
            (
                "2",
                format!(
                    "From: alice@example.org\nTo: unsubscribe@example.org\nMessage-ID: <u2@example.org>\nSubject: Re: unsubscribe-{token}\n\n"
                ),
            ),
        ],
    );
    p.bulletin(&["bounces", "--maildir", &dir.display().to_string()])
        .success();
    let st = statuses(&p);
    assert_eq!(st["bob@example.org"], "subscribed");
    assert_eq!(st["alice@example.org"], "unsubscribed");
}

/// kill -9 at points across a run over many messages, then a rerun: the
/// list ends as one clean run leaves it.
#[test]
fn kill_9_while_reading_bounces_then_a_rerun_ends_as_a_clean_run() {
    let build = || {
        let p = Project::sample();
        with_bounces(&p, "");
        let mut list = String::from("email,name\n");
        let mut readers = Vec::new();
        for i in 0..2000 {
            list.push_str(&format!("r{i}@example.org,R\n"));
            readers.push((format!("r{i}@example.org"), digest(100 + i)));
        }
        p.write(LIST, &list);
        let pairs: Vec<(&str, &str)> = readers
            .iter()
            .map(|(e, d)| (e.as_str(), d.as_str()))
            .collect();
        log_with(&p, "2022-08-01", &pairs);
        let mails: Vec<(String, String)> = (0..2000)
            .map(|i| {
                let to = format!("bounces+{}@example.org", digest(100 + i));
                let status = if i % 2 == 0 { "5.1.1" } else { "4.2.2" };
                (
                    format!("{i:05}"),
                    dsn(
                        &to,
                        &format!("r{i}@example.org"),
                        "failed",
                        status,
                        None,
                        &format!("m{i}"),
                    ),
                )
            })
            .collect();
        let refs: Vec<(&str, String)> =
            mails.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
        maildir_with(&p, &refs);
        p
    };
    let clean = build();
    let start = std::time::Instant::now();
    clean
        .bulletin(&["bounces", "--maildir", "returns"])
        .success()
        .stdout_has("1000 readers were marked bounced");
    let full = start.elapsed().as_micros() as u64;
    let want = clean.read(LIST);

    // Kill runs at points across that span until one lands after the run
    // wrote the list's rows and before it marked every message done. The
    // span is timed on a busy machine (the suite runs in parallel), so a
    // sweep that never lands there is tried again, up to three times.
    let mut mid = 0;
    'sweeps: for _ in 0..3 {
        for percent in (30..=150).step_by(3) {
            let p = build();
            let untouched = p.read(LIST);
            let mut child = p
                .command(&["bounces", "--maildir", "returns"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(Duration::from_micros(full * percent / 100));
            child.kill().expect("kill");
            child.wait().expect("wait");
            // The list's rows are written first, the mail marked last.
            let wrote = p.read(LIST) != untouched;
            let unmarked = files_in(&p.path("returns/new")).len();
            p.bulletin(&["bounces", "--maildir", "returns"]).success();
            // The list only grows: a row the kill cut stays, ended so that
            // it is damaged (and the reader's later row settles them).
            let ended = |text: String| -> String {
                text.lines()
                    .filter(|l| !l.ends_with("\",,,,"))
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            assert_eq!(
                ended(p.read(LIST)),
                want,
                "after a kill at {percent}%: not what a clean run leaves"
            );
            assert!(files_in(&p.path("returns/new")).is_empty());
            if wrote && unmarked > 0 {
                mid += 1;
                if mid >= 2 {
                    break 'sweeps;
                }
            }
        }
        if mid > 0 {
            break;
        }
    }
    assert!(mid > 0, "no kill landed between the rows and the marking");
}

/// With `[bounces]`, a reader refused at RCPT with 5.1.1 during the send is
/// `bounced` on the list when the send ends; other refusals are not.
#[test]
fn a_send_time_refusal_about_the_mailbox_is_a_hard_bounce() {
    use crate::scripted::{Act, Cmd, Offer, Scripted};
    let server = Scripted::start(Offer::default(), |c, to| {
        if c != Cmd::Rcpt {
            return None;
        }
        if to.starts_with("r1") {
            Some(Act::Owned(format!("550 5.1.1 <{to}>: User unknown")))
        } else if to.starts_with("r2") {
            Some(Act::Owned(format!("550 5.7.1 <{to}>: relay denied")))
        } else {
            None
        }
    });
    let p = Project::sample();
    p.with_readers(30)
        .with_server(server.port, "", "concurrency = 2");
    with_bounces(&p, "");
    let run = p.send(&[]);
    run.failure().stdout_has("bounced:      11");
    let st = statuses(&p);
    for (email, status) in &st {
        let want = if email.starts_with("r1") {
            "bounced"
        } else {
            "subscribed"
        };
        assert_eq!(status, want, "{email}");
    }
    let history = p.read("subscribers.example.bounces.csv");
    assert!(history.contains(",send:2022-08-01"), "{history}");
    // The next send leaves them out.
    p.dry_run_fresh("next").success().stdout_has("11 bounced");
}

#[test]
fn a_big_list_without_bounces_is_warned_about() {
    let p = Project::sample();
    p.with_readers(1001);
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .stderr_has("no [bounces] section, and 1001 readers");
    with_bounces(&p, "");
    let run = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    assert!(!run.stderr.contains("[bounces]"), "{}", run.stderr);
}
