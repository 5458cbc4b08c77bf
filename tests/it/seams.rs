//! Where two features meet on one file (issue 25): the list only grows
//! while a send watches it, one mailbox is one reader whatever the
//! spelling, the latest row counts for details (compaction keeps what a
//! send sees), imports keep suppressions, soft bounces count only since
//! the editor's decision, and the welcome ledger is no delivery log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bounces::{digest, dsn, log_with, maildir_with, statuses, with_bounces};
use crate::serve::{Served, confirm_as_shown, project, wait_for_mail};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project, paths_in};

const LIST: &str = "subscribers.example.csv";

/// A list with bulletin's columns: `n` readers r0..r{n-1}@example.org.
fn readers(n: usize) -> String {
    let mut csv = String::from("email,name,status,changed\n");
    for i in 0..n {
        csv.push_str(&format!("r{i}@example.org,Reader {i},subscribed,\n"));
    }
    csv
}

fn rcpts(sink: &SmtpSink) -> Vec<String> {
    sink.settled().into_iter().map(|r| r.rcpt).collect()
}

/// The recipients a dry-run into `out` would mail, with their To header.
fn planned(p: &Project, out: &str) -> Vec<String> {
    p.dry_run_fresh(out).success();
    let files = paths_in(&p.path(out), "eml");
    crate::util::inspect_eml(&files)
        .into_iter()
        .map(|v| v["headers"]["To"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// A writer that died mid-row left the list's last line unfinished; an
/// unsubscribe made while a send runs ends that line by appending (never
/// cutting: the send's watcher reads the list by offset) and is honoured
/// at the reader's turn. Everyone else is mailed.
#[test]
fn an_unsubscribe_during_a_send_is_honoured_when_the_list_ended_unfinished() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "concurrency = 1\nrate = 10");
    p.write(LIST, format!("{}zz@exa", readers(40)));
    let send = p
        .command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send");
    let start = Instant::now();
    while sink.received().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(20), "no send");
        std::thread::sleep(Duration::from_millis(20));
    }
    p.bulletin(&["unsubscribe", "r35@example.org"])
        .success()
        .stderr_has("an unfinished row");
    let out = send.wait_with_output().expect("send");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("left during the send, not mailed: 1"),
        "{stdout}"
    );
    let got = rcpts(&sink);
    assert!(!got.contains(&"r35@example.org".to_owned()), "{got:?}");
    assert_eq!(got.len(), 39, "everyone else is mailed: {got:?}");
    let text = p.read(LIST);
    assert!(text.starts_with(&format!("{}zz@exa", readers(40))), "cut");
}

/// `ann@bücher.de` and `ann@xn--bcher-kva.de` are one mailbox: mailed
/// once, and one spelling's unsubscribe is the other's.
#[test]
fn both_spellings_of_an_international_domain_are_one_reader() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_server(sink.port, "", "");
    p.write(
        LIST,
        "email,name,status,changed\nann@bücher.de,Ann,,\nANN@xn--bcher-kva.de,Ann A,,\nbo@example.org,Bo,,\n",
    );
    p.send(&[]).success();
    let mut got = rcpts(&sink);
    got.sort();
    assert_eq!(got, vec!["ann@xn--bcher-kva.de", "bo@example.org"]);
    p.bulletin(&["unsubscribe", "ann@xn--bcher-kva.de"])
        .success()
        .stdout_has("unsubscribed");
    let to = planned(&p, "after");
    assert_eq!(to, vec!["Bo <bo@example.org>"], "{to:?}");
    p.bulletin(&["list"])
        .success()
        .stdout_has("1 subscribed, 1 unsubscribed");
}

/// The editor's later row counts for details: `subscribe --tag` adds a
/// tag without a "listed earlier too" warning, a later name is the name,
/// and `--compact` keeps both, so a dry-run's audience and To headers are
/// the same before and after.
#[test]
fn the_latest_row_counts_for_details_and_compaction_keeps_what_a_send_sees() {
    let p = Project::sample();
    p.write(
        LIST,
        "email,name,status,changed,tags\nann@x.org,Ann,,,japan\nbo@x.org,Bo,,,korea\ncy@x.org,Cy,,,japan\n",
    );
    let issue = p.read("issues/2022-08-01.toml");
    p.write(
        "issues/2022-08-01.toml",
        format!("{issue}\n[audience]\ntags = [\"korea\"]\n"),
    );
    p.bulletin(&[
        "subscribe",
        "ann@x.org",
        "--tag",
        "korea",
        "--name",
        "Ann Lee",
    ])
    .success();
    let check = p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"]);
    check.success();
    assert!(!check.stderr.contains("listed earlier"), "{}", check.stderr);
    assert!(!check.stdout.contains("listed earlier"), "{}", check.stdout);
    let before = planned(&p, "before");
    assert_eq!(before, vec!["Ann Lee <ann@x.org>", "Bo <bo@x.org>"]);
    p.dry_run_fresh("counts")
        .success()
        .stdout_has("0 duplicate");
    p.bulletin(&["list", "--compact"]).success();
    assert_eq!(p.read(LIST).lines().count(), 4, "one row a reader");
    assert_eq!(planned(&p, "after"), before);
}

/// An import's `status` column: suppressions are recorded as such (never
/// subscribed) and block a later import; a bulletin list imported whole
/// keeps a reader's later `unsubscribed`; counts per status; an unknown
/// status is an error at its line and nothing is written.
#[test]
fn imports_keep_suppressions_and_fold_a_bulletin_list_per_reader() {
    let p = Project::sample();
    p.write(
        "export.csv",
        "email,name,status\nu@example.org,U,unsubscribed\nb@example.org,B,bounced\nc@example.org,C,complained\nm@example.org,M,cleaned\nn@example.org,N,subscribed\n",
    );
    p.bulletin(&["subscribe", "--from", "export.csv"])
        .success()
        .stdout_has("1 added as subscribed, 1 added as unsubscribed (never mailed), 2 added as bounced (never mailed), 1 added as complained (never mailed)");
    let st = statuses(&p);
    for (who, want) in [
        ("u@example.org", "unsubscribed"),
        ("b@example.org", "bounced"),
        ("m@example.org", "bounced"),
        ("c@example.org", "complained"),
        ("n@example.org", "subscribed"),
    ] {
        assert_eq!(st[who], want, "{who}");
    }
    // A later import of the same addresses subscribes none of them.
    p.write(
        "again.csv",
        "email\nu@example.org\nb@example.org\nc@example.org\n",
    );
    p.bulletin(&["subscribe", "--from", "again.csv"])
        .success()
        .stdout_has("0 added as subscribed, 0 already subscribed, 3 unsubscribed earlier");
    // A bulletin list, imported whole: the later row counts.
    p.write(
        "old-list.csv",
        "email,name,status,changed\nwho@example.org,Who,subscribed,\nwho@example.org,,unsubscribed,2022-07-01T00:00:00Z\nwho@example.org,,,\n",
    );
    p.bulletin(&["subscribe", "--from", "old-list.csv"])
        .success()
        .stdout_has("1 added as unsubscribed (never mailed)")
        .stdout_has("2 rows folded");
    assert_eq!(statuses(&p)["who@example.org"], "unsubscribed");
    let to = planned(&p, "plan");
    for who in ["u", "b", "c", "m", "who"] {
        let address = format!("<{who}@example.org>");
        assert!(
            !to.iter().any(|t| t.contains(&address)),
            "{who} mailed: {to:?}"
        );
    }
    // An unknown status: its line, nothing written.
    let before = p.read(LIST);
    p.write(
        "odd.csv",
        "email,status\nx@example.org,subscribed\ny@example.org,hard-bounce\n",
    );
    p.bulletin(&["subscribe", "--from", "odd.csv"])
        .failure()
        .stderr_has("odd.csv:3: status \"hard-bounce\" is not one of")
        .stderr_has("nothing imported");
    assert_eq!(p.read(LIST), before);
}

/// Soft bounces from before the editor's `subscribe` never count toward
/// the limit that writes the reader off again.
#[test]
fn soft_bounces_older_than_the_editors_subscribe_never_count() {
    let p = Project::sample();
    with_bounces(&p, "soft_limit = 2");
    log_with(&p, "2022-08-01", &[("dana@example.org", &digest(4))]);
    log_with(&p, "2022-08-15", &[("dana@example.org", &digest(5))]);
    log_with(&p, "2022-08-29", &[("dana@example.org", &digest(6))]);
    let verp = |d: &str| format!("bounces+{}@example.org", d.to_uppercase());
    let soft = |d: u32, id: &str| {
        dsn(
            &verp(&digest(d)),
            "dana@example.org",
            "failed",
            "4.2.2",
            None,
            id,
        )
    };
    let dir = maildir_with(&p, &[("1", soft(4, "s1")), ("2", soft(5, "s2"))]);
    let maildir = dir.display().to_string();
    p.bulletin(&["bounces", "--maildir", &maildir]).success();
    assert_eq!(statuses(&p)["dana@example.org"], "bounced");
    // The editor brings Dana back an hour later; a day later one more
    // soft bounce comes: one, not three, since the editor's decision.
    let hour = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 3600).to_string();
    let day = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 86_400).to_string();
    p.bulletin_with(
        &["subscribe", "dana@example.org"],
        &[("SOURCE_DATE_EPOCH", &hour)],
    )
    .success();
    std::fs::write(dir.join("new").join("3"), soft(6, "s3")).expect("mail");
    p.bulletin_with(
        &["bounces", "--maildir", &maildir],
        &[("SOURCE_DATE_EPOCH", &day)],
    )
    .success();
    assert_eq!(statuses(&p)["dana@example.org"], "subscribed");
}

/// The welcome ledger lives beside the list, never in `logs/`: `archive`
/// does not publish the welcome issue and `status` of it works, before
/// and after `serve` moves an old ledger out of `logs/`, and what the old
/// ledger says still holds (no second welcome).
#[test]
fn the_welcome_ledger_is_no_delivery_log() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(
        port,
        &sink,
        "welcome = \"issues/welcome.toml\"\n[archive]\n",
    );
    p.write(
        "issues/welcome.toml",
        "subject = \"Welcome\"\ndate = 2022-07-01\n[[story]]\nheadline = \"Hello\"\nbody = \"Hi.\"\n",
    );
    // As an earlier bulletin kept it: in logs/, read as an issue's log.
    p.write(
        "logs/welcome.csv",
        "time,email,outcome,detail\n2022-07-01T00:00:00Z,alice@example.org,queued,\n2022-07-01T00:00:01Z,alice@example.org,sent,\n",
    );
    let status = p.bulletin(&["status", "--issue", "issues/welcome.toml"]);
    status.success();
    p.bulletin(&["archive"]).success();
    assert!(
        !p.path("archive/welcome").exists(),
        "the welcome was published"
    );
    let served = Served::start(&p, port, PINNED_EPOCH);
    assert!(!p.path("logs/welcome.csv").exists());
    assert!(
        p.read("subscribers.example.welcome.csv")
            .contains("alice@example.org,sent,")
    );
    // Alice left and comes back: the moved ledger still says she had it.
    p.bulletin(&["unsubscribe", "alice@example.org"]).success();
    crate::serve::client()
        .post(format!("{}/subscribe", served.base))
        .form(&[("email", "alice@example.org")])
        .send()
        .expect("post");
    let link = wait_for_mail(&sink, "alice@example.org", 1).remove(0);
    assert_eq!(confirm_as_shown(&link, None).0, 200);
    std::thread::sleep(Duration::from_millis(1500));
    drop(served);
    let welcomes = crate::serve::dumped(&sink)
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains("Subject: Welcome")))
        .count();
    assert_eq!(welcomes, 0);
    assert!(!p.path("logs/welcome.csv").exists());
    p.bulletin(&["status", "--issue", "issues/welcome.toml"])
        .success();
    p.bulletin(&["archive"]).success();
    assert!(!p.path("archive/welcome").exists());
}
