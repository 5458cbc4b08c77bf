//! Audiences by tag: the readers an issue's `[audience]` takes, in the
//! dry-run and at smtp-sink; the audience held to through a resume; tags
//! added by `subscribe --tag` and by the sign-up form's topics.

use std::collections::BTreeSet;

use crate::serve::{client, rows_of, started};
use crate::servers::SmtpSink;
use crate::util::Project;

const LIST: &str = "subscribers.example.csv";

fn tagged(p: &Project) {
    p.write(
        LIST,
        "email,name,status,changed,tags\n\
         ann@example.org,Ann,,,Japan\n\
         bo@example.org,Bo,,,korea\n\
         cy@example.org,Cy,,,japan;staff\n\
         di@example.org,Di,,,\n\
         ed@example.org,Ed,,,Korea; JAPAN\n\
         fay@example.org,Fay,unsubscribed,,japan\n\
         bo@example.org,,,2022-07-01T00:00:00Z,japan\n",
    );
}

fn with_audience(p: &Project, audience: &str) {
    let issue = p.read("issues/2022-08-01.toml");
    p.write(
        "issues/2022-08-01.toml",
        format!("{issue}\n[audience]\n{audience}\n"),
    );
}

fn mailed(p: &Project, dir: &str) -> BTreeSet<String> {
    p.dry_run(dir).success();
    p.files_in(dir)
        .into_iter()
        .filter_map(|f| {
            f.strip_suffix(".eml")
                .and_then(|f| f.split_once('-'))
                .map(|(_, who)| who.replacen('_', "@", 1))
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_issue_goes_to_the_readers_its_audience_takes() {
    let p = Project::sample();
    tagged(&p);
    with_audience(&p, "tags = [\"japan\"]\nexclude_tags = [\"Staff\"]");
    // bo's latest tagged row says japan; cy is staff; fay left.
    assert_eq!(
        mailed(&p, "preview"),
        set(&["ann@example.org", "bo@example.org", "ed@example.org"])
    );
    p.dry_run("again")
        .success()
        .stdout_has("audience:     3 of 5 readers (tags: japan; not: staff)");
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("audience: 3 of 5 readers (tags: japan; not: staff)");
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "concurrency = 2");
    p.send(&[])
        .success()
        .stdout_has("Audience: 3 of 5 readers (tags: japan; not: staff)")
        .stdout_has("sent:         3");
    let got: BTreeSet<String> = sink.settled().into_iter().map(|r| r.rcpt).collect();
    assert_eq!(
        got,
        set(&["ann@example.org", "bo@example.org", "ed@example.org"])
    );
}

/// The audience is part of what a send decided: changed mid-send, the
/// resume is refused; with --force it goes on, and nobody gets it twice.
#[test]
fn a_changed_audience_is_not_resumed_without_force_and_nobody_gets_it_twice() {
    let p = Project::sample();
    tagged(&p);
    with_audience(&p, "tags = [\"japan\"]");
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "concurrency = 1");
    p.send(&["--limit", "2"])
        .success()
        .stdout_has("sent:         2");
    let issue = p.read("issues/2022-08-01.toml");
    p.write(
        "issues/2022-08-01.toml",
        issue.replace("tags = [\"japan\"]", "tags = [\"japan\", \"korea\"]"),
    );
    p.send(&[]).failure().stderr_has("--force");
    assert_eq!(sink.settled().len(), 2);
    p.send(&["--force"]).success();
    let got: Vec<String> = sink.settled().into_iter().map(|r| r.rcpt).collect();
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(got.len(), unique.len(), "someone got it twice: {got:?}");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "ann@example.org",
            "bo@example.org",
            "cy@example.org",
            "ed@example.org"
        ])
    );
}

#[test]
fn subscribe_tag_adds_to_a_readers_tags_and_list_counts_them() {
    let p = Project::sample();
    p.bulletin(&["subscribe", "alice@example.org", "--tag", "Japan"])
        .success()
        .stdout_has("alice@example.org is subscribed, tagged japan");
    p.bulletin(&["subscribe", "alice@example.org", "--tag", "korea"])
        .success()
        .stdout_has("tagged japan, korea");
    p.bulletin(&["subscribe", "alice@example.org", "--tag", "korea"])
        .success()
        .stdout_has("already subscribed; nothing written");
    p.bulletin(&["subscribe", "new@example.org", "--tag", "korea"])
        .success()
        .stdout_has("new@example.org subscribed");
    let alice = rows_of(&p, "alice@example.org");
    assert_eq!(alice.last().expect("row")[4], "japan;korea");
    p.bulletin(&["list"])
        .success()
        .stdout_has("subscribed readers by tag: korea 2, japan 1");
    with_audience(&p, "tags = [\"korea\"]");
    assert_eq!(
        mailed(&p, "preview"),
        set(&["alice@example.org", "new@example.org"])
    );
}

/// The sign-up form offers `[serve] topics`; what a reader ticks becomes
/// their tags, and nothing else a form sends.
#[test]
fn the_sign_up_forms_topics_become_the_readers_tags() {
    let setup = started("topics = [\"japan\", \"korea\"]");
    let page = client()
        .get(format!("{}/subscribe", setup.served.base))
        .send()
        .expect("get")
        .text()
        .expect("page");
    assert!(page.contains("name=\"topic-japan\"") && page.contains("name=\"topic-korea\""));
    let status = client()
        .post(format!("{}/subscribe", setup.served.base))
        .form(&[
            ("email", "t@example.net"),
            ("topic-korea", "yes"),
            ("topic-staff", "yes"),
        ])
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);
    let rows = rows_of(&setup.p, "t@example.net");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0][2].as_str(), rows[0][4].as_str()),
        ("pending", "korea")
    );
}
