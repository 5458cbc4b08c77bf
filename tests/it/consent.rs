//! Consent you can trust: nothing that comes back from the world (a web
//! sign-up, a confirm link, a damaged row) re-adds a reader who left or
//! writes off one who did not. Each test ends with the list as the
//! table in ARCHITECTURE.md says, and with what smtp-sink received.

use std::time::Duration;

use crate::serve::{
    Served, Setup, client, confirmation_links, dumped, rows_of, started, text, wait_for_mail,
};
use crate::util::{PINNED_EPOCH, Project};

const LIST: &str = "subscribers.example.csv";

/// Eight days after the pinned date: a sign-up of that date has expired.
const EIGHT_DAYS_LATER: &str = "1660039200";

/// The addresses a dry-run into `dir` would mail.
fn mailed(p: &Project, dir: &str) -> Vec<String> {
    p.dry_run(dir);
    let mut out: Vec<String> = p
        .files_in(dir)
        .into_iter()
        .filter_map(|f| {
            f.strip_suffix(".eml")
                .and_then(|f| f.split_once('-'))
                .map(|(_, who)| who.replacen('_', "@", 1))
        })
        .collect();
    out.sort();
    out
}

fn add_rows(p: &Project, rows: &str) {
    let list = p.read(LIST);
    p.write(LIST, format!("{list}{rows}"));
}

/// A sign-up for a `complained` or `bounced` address sends nothing and
/// writes nothing; one for an `unsubscribed` address sends a confirmation
/// but the address stays unsubscribed. Expiry, `--compact` and an import
/// afterwards leave every suppression as it was.
#[test]
fn a_sign_up_never_undoes_a_complaint_a_bounce_or_an_unsubscribe() {
    let setup = started("");
    let (p, sink, base) = (&setup.p, &setup.sink, &setup.served.base);
    add_rows(
        p,
        "cat@example.org,Cat,complained,2022-07-01T00:00:00Z\n\
         bea@example.org,Bea,bounced,2022-07-01T00:00:00Z\n",
    );
    let before = mailed(p, "before");
    assert_eq!(
        before,
        vec![
            "alice@example.org",
            "bob@example.org",
            "dana@example.org",
            "zoe@example.org"
        ]
    );
    let http = client();
    for who in ["cat@example.org", "bea@example.org", "erin@example.org"] {
        let (status, page) = text(
            http.post(format!("{base}/subscribe"))
                .form(&[("email", who)])
                .send()
                .expect("post"),
        );
        // The same page for everyone: nobody learns who is on the list.
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Check your inbox"), "{page}");
    }
    // Erin (unsubscribed) may confirm a new sign-up; the others get nothing.
    wait_for_mail(sink, "erin@example.org", 1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(confirmation_links(sink, "cat@example.org").is_empty());
    assert!(confirmation_links(sink, "bea@example.org").is_empty());
    assert_eq!(dumped(sink).len(), 1);
    assert_eq!(rows_of(p, "cat@example.org").len(), 1, "a row for cat");
    assert_eq!(rows_of(p, "bea@example.org").len(), 1, "a row for bea");
    let erin = rows_of(p, "erin@example.org");
    assert_eq!(erin.last().expect("row")[2], "pending");
    // Still not mailed, and still counted as unsubscribed.
    assert_eq!(mailed(p, "after-sign-ups"), before);
    p.bulletin(&["list"])
        .success()
        .stdout_has("4 subscribed, 1 unsubscribed (1 of whom signed up again, not yet confirmed), 1 bounced, 1 complained");

    // Eight days on, the sign-up has expired: compact drops it, never
    // the suppressions.
    drop(setup.served);
    p.bulletin_with(
        &["list", "--compact"],
        &[("SOURCE_DATE_EPOCH", EIGHT_DAYS_LATER)],
    )
    .success()
    .stdout_has("1 unconfirmed sign-up past their expiry dropped");
    for (who, status) in [
        ("cat@example.org", "complained"),
        ("bea@example.org", "bounced"),
        ("erin@example.org", "unsubscribed"),
    ] {
        let rows = rows_of(p, who);
        assert_eq!(rows.len(), 1, "{who}: {rows:?}");
        assert_eq!(rows[0][2], status, "{who}");
    }
    // An import re-adds nobody who left.
    p.write(
        "in.csv",
        "email,name\ncat@example.org,Cat\nbea@example.org,Bea\nerin@example.org,Erin\nnew@example.org,New\n",
    );
    p.bulletin(&["subscribe", "--from", "in.csv"])
        .success()
        .stdout_has(
            "1 added as subscribed, 0 already subscribed, 3 unsubscribed earlier (left as they are)",
        );
    let mut want = before.clone();
    want.push("new@example.org".into());
    want.sort();
    assert_eq!(mailed(p, "after-import"), want);
}

/// A confirm link works once, and only while its sign-up is the address's
/// latest: a second press, or a press after an unsubscribe, gets 410 and
/// changes nothing.
#[test]
fn a_confirm_link_works_once_and_never_after_the_reader_left() {
    let Setup { served, p, sink } = started("");
    let (p, sink, base) = (&p, &sink, served.base.clone());
    let http = client();
    let sign_up = |who: &str| {
        let (status, _) = text(
            http.post(format!("{base}/subscribe"))
                .form(&[("email", who)])
                .send()
                .expect("post"),
        );
        assert_eq!(status, 200);
    };

    // Signed up, confirmed, then unsubscribed: the old link is dead.
    sign_up("ned@example.org");
    let link = wait_for_mail(sink, "ned@example.org", 1).remove(0);
    let first = link.clone();
    let (status, page) = text(http.post(&link).send().expect("post"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        rows_of(p, "ned@example.org").last().expect("row")[2],
        "subscribed"
    );
    let before = p.read(LIST);
    let (status, page) = text(http.post(&link).send().expect("post"));
    assert_eq!(status, 410, "a second press: {page}");
    assert_eq!(p.read(LIST), before, "a second press wrote");
    p.bulletin(&["unsubscribe", "ned@example.org"])
        .success()
        .stdout_has("ned@example.org unsubscribed");
    let before = p.read(LIST);
    let (status, page) = text(http.post(&link).send().expect("post"));
    assert_eq!(status, 410, "{page}");
    // No dead end: the page offers the sign-up form.
    assert!(page.contains("no longer works"), "{page}");
    assert!(page.contains("name=\"email\""), "{page}");
    assert_eq!(p.read(LIST), before, "the old link re-subscribed");

    // Signed up, then unsubscribed before confirming: the link is dead.
    sign_up("ola@example.org");
    let link = wait_for_mail(sink, "ola@example.org", 1).remove(0);
    p.bulletin(&["unsubscribe", "ola@example.org"]).success();
    let before = p.read(LIST);
    let (status, _) = text(http.post(&link).send().expect("post"));
    assert_eq!(status, 410);
    assert_eq!(p.read(LIST), before);

    // Two hours on (an address gets one confirmation an hour at most),
    // ned signs up again: the link of his older sign-up is dead, the new
    // one works.
    let port = served.port;
    drop(served);
    let later = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 7200).to_string();
    let _served = Served::start(p, port, &later);
    sign_up("ned@example.org");
    let links = wait_for_mail(sink, "ned@example.org", 2);
    let (old, new) = (
        &first,
        links.iter().find(|l| **l != first).expect("a new link"),
    );
    let (status, _) = text(http.post(old).send().expect("post"));
    assert_eq!(status, 410);
    let (status, _) = text(http.post(new).send().expect("post"));
    assert_eq!(status, 200);
    assert_eq!(
        rows_of(p, "ned@example.org").last().expect("row")[2],
        "subscribed"
    );

    let got = mailed(p, "end");
    assert!(got.contains(&"ned@example.org".to_owned()), "{got:?}");
    assert!(!got.contains(&"ola@example.org".to_owned()), "{got:?}");
}

/// A last line cut short (a full disk, a crash mid-append) swallows
/// nothing: the next append moves it to `<list>.damaged`, the unsubscribe
/// after it is honoured by every reader of the list, and the serve's
/// view agrees with the planner.
#[test]
fn an_unfinished_row_is_ended_not_cut_and_the_unsubscribe_after_it_is_honoured() {
    let p = Project::sample();
    let list = p.read(LIST);
    let fragment = "ann@example.org,\"Lee, An";
    p.write(LIST, format!("{list}{fragment}"));
    p.bulletin(&["unsubscribe", "alice@example.org"])
        .success()
        .stdout_has("alice@example.org unsubscribed")
        .stderr_has("subscribers.example.csv:7: an unfinished row")
        .stderr_has("subscribers.example.csv.damaged");
    assert_eq!(
        p.read("subscribers.example.csv.damaged"),
        format!("{fragment}\n")
    );
    // The list only grew: the fragment is still there, ended so that it
    // stays damaged, and the new row is on a line of its own.
    let now = p.read(LIST);
    assert!(now.starts_with(&format!("{list}{fragment}")), "{now}");
    let after = &now[list.len() + fragment.len()..];
    assert!(
        after.starts_with("\",,,,\nalice@example.org,,unsubscribed,"),
        "{after:?}"
    );
    let got = mailed(&p, "after");
    assert!(!got.contains(&"alice@example.org".to_owned()), "{got:?}");
    assert!(!got.contains(&"ann@example.org".to_owned()), "{got:?}");
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("subscribers.example.csv:7: is unfinished")
        .stderr_has("1 problem");
}

/// A damaged line in the middle (a hand edit that left a quote open)
/// spoils that line only: the planner, `check`, `list`, `--compact`, an
/// import and `serve` all read the rows after it the same, and a reader
/// whose latest row cannot be read is not mailed until it is fixed.
#[test]
fn every_reader_of_the_list_reads_a_damaged_line_the_same() {
    let setup = started("");
    let (p, sink, base) = (&setup.p, &setup.sink, &setup.served.base);
    add_rows(
        p,
        "ann@example.org,\"Lee, An,,\n\
         alice@example.org,,unsubscribed,2022-07-01T00:00:00Z\n\
         bob@example.org,Bob,unsubscrbed,\n\
         erin@example.org,Erin,,\n\
         erin@example.org\n",
    );
    // Erin left earlier: a later row with no status (typed by hand) lifts
    // nothing; only `subscribed`, or `bulletin subscribe`, brings her back.
    // The planner: alice left (the row after the open quote counts), bob
    // is held by his unreadable row, ann's only row cannot be read.
    let run = p.dry_run("plan");
    run.failure()
        .stderr_has("subscribers.example.csv:7: has a quote that is not closed on its line")
        .stderr_has("subscribers.example.csv:9: status \"unsubscrbed\"")
        .stderr_has(
            "subscribers.example.csv:3: not mailed: this reader's row at line 9 cannot be read",
        )
        .stdout_has("1 held by an unreadable row");
    assert_eq!(
        mailed(p, "plan2"),
        vec!["dana@example.org", "zoe@example.org"]
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("subscribers.example.csv:7:")
        .stderr_has("subscribers.example.csv:9:")
        .stderr_has("subscribers.example.csv:3: this reader is not mailed");
    p.bulletin(&["list"])
        .failure()
        .stdout_has("2 subscribed, 2 unsubscribed, 2 invalid, 2 held by an unreadable row");
    // serve's view: alice is unsubscribed (a sign-up gets a confirmation),
    // zoe is subscribed (nothing is sent).
    let http = client();
    for who in ["alice@example.org", "zoe@example.org"] {
        http.post(format!("{base}/subscribe"))
            .form(&[("email", who)])
            .send()
            .expect("post");
    }
    wait_for_mail(sink, "alice@example.org", 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(confirmation_links(sink, "zoe@example.org").is_empty());
    // An import does not re-add alice, nor take bob for new.
    p.write("in.csv", "email\nalice@example.org\nbob@example.org\n");
    p.bulletin(&["subscribe", "--from", "in.csv"])
        .success()
        .stdout_has("0 added");
    // Compact keeps the damaged lines as they are, for the editor.
    drop(setup.served);
    p.bulletin(&["list", "--compact"])
        .success()
        .stdout_has("1 unreadable line kept as they are");
    let after = p.read(LIST);
    assert!(after.contains("ann@example.org,\"Lee, An,,\n"), "{after}");
    assert!(
        after.contains("bob@example.org,Bob,unsubscrbed,\n"),
        "{after}"
    );
    assert_eq!(
        mailed(p, "plan3"),
        vec!["dana@example.org", "zoe@example.org"]
    );
    // The editor fixes bob's row: he is mailed again.
    p.write(LIST, after.replace("unsubscrbed", "subscribed"));
    assert_eq!(
        mailed(p, "plan4"),
        vec!["bob@example.org", "dana@example.org", "zoe@example.org"]
    );
}

/// Files with readers' addresses are not world-readable: a new list, its
/// history and its lock are 0600 (0640 in a group-shared folder), and a
/// rewrite keeps the group.
#[test]
fn new_list_files_are_private_and_a_rewrite_keeps_the_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let p = Project::sample();
    p.edit("config.toml", "subscribers.example.csv", "lists/new.csv");
    std::fs::create_dir(p.path("lists")).expect("mkdir");
    p.bulletin(&["subscribe", "ann@example.org"]).success();
    let mode = |rel: &str| {
        std::fs::metadata(p.path(rel))
            .expect("file")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("lists/new.csv"), 0o600);
    assert_eq!(mode("lists/.new.csv.lock"), 0o600);
    p.bulletin(&["unsubscribe", "ann@example.org"]).success();
    assert_eq!(mode("lists/new.csv"), 0o600);

    // A group-shared folder (setgid): 0640, and a rewrite keeps the group.
    std::fs::create_dir(p.path("shared")).expect("mkdir");
    std::fs::set_permissions(p.path("shared"), std::fs::Permissions::from_mode(0o2770))
        .expect("chmod");
    p.edit("config.toml", "lists/new.csv", "shared/list.csv");
    p.bulletin(&["subscribe", "bo@example.org"]).success();
    assert_eq!(mode("shared/list.csv"), 0o640);
    let nogroup = 65534;
    std::os::unix::fs::chown(p.path("shared/list.csv"), None, Some(nogroup)).expect("chgrp");
    p.bulletin(&["list", "--compact"]).success();
    let meta = std::fs::metadata(p.path("shared/list.csv")).expect("list");
    assert_eq!(meta.gid(), nogroup, "the rewrite lost the group");
    assert_eq!(meta.mode() & 0o777, 0o640);
}
