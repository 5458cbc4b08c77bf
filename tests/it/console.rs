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
