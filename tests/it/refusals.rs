//! Only the reader's own mailbox is the reader's fault: refusals from a
//! real Postfix (DMARC, a full mailbox, our own envelope sender) and from
//! a scripted relay (the same unexplained refusal for everyone) bounce
//! nobody, and a run stopped by them leaves everyone due for the next.

use std::collections::{BTreeMap, BTreeSet};

use crate::bounces::{statuses, to_postfix, unknown_users, with_bounces};
use crate::scripted::{Act, Cmd, Scripted};
use crate::servers::{Postfix, SmtpSink};
use crate::util::Project;

/// `n` readers on `domains` domains, as the list.
fn readers(p: &Project, n: usize, domains: usize) -> Vec<String> {
    p.with_readers_on(n, domains);
    (0..n)
        .map(|i| format!("r{i}@d{}.example.org", i % domains))
        .collect()
}

/// How many readers the delivery log leaves in each status.
fn log_statuses(p: &Project) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for status in p.final_statuses().into_values() {
        *out.entry(status).or_default() += 1;
    }
    out
}

/// Gmail's answer to mail that fails DMARC, and a full mailbox, as real
/// DSNs from Postfix: nobody is bounced; `bounces` groups the causes and
/// warns loudly about the one that hit many readers.
#[test]
fn dmarc_and_full_mailbox_reports_from_postfix_bounce_nobody() {
    let dmarc = SmtpSink::start(&[
        "-f",
        "RCPT",
        "-B",
        "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy",
    ]);
    let full = SmtpSink::start(&["-f", "RCPT", "-B", "552 5.2.2 Mailbox full"]);
    let postfix = Postfix::relaying_each(&[("gmail.test", dmarc.port), ("full.test", full.port)]);
    let p = Project::sample();
    let mut list = String::from("email,name\n");
    for i in 0..20 {
        list.push_str(&format!("r{i}@example.org,R\n"));
    }
    for i in 0..5 {
        list.push_str(&format!("g{i}@gmail.test,G\n"));
    }
    for i in 0..3 {
        list.push_str(&format!("f{i}@full.test,F\n"));
    }
    p.write("subscribers.example.csv", &list);
    to_postfix(&p, &postfix);
    with_bounces(&p, "");
    p.send(&[]).success().stdout_has("sent:         28");
    assert_eq!(postfix.wait_for(28), 28, "the DSNs did not arrive");
    let dir = postfix.maildir().display().to_string();
    p.bulletin(&["bounces", "--maildir", &dir])
        .success()
        .stdout_has("28 messages read: 0 hard bounces, 3 soft bounces, 5 refusals not about the reader")
        .stdout_has("5 × 550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy")
        .stdout_has("3 × 552 5.2.2 Mailbox full")
        .stdout_has("0 readers were marked bounced")
        .stderr_has("warning: 5 readers refused for DMARC by gmail.test");
    assert!(
        statuses(&p).values().all(|s| s == "subscribed"),
        "{:?}",
        statuses(&p)
    );
    let history = p.read("subscribers.example.bounces.csv");
    assert_eq!(
        history.lines().filter(|l| l.contains(",refused,")).count(),
        5
    );
    assert_eq!(history.lines().filter(|l| l.contains(",soft,")).count(), 3);
    // Everyone is mailed the next issue.
    p.dry_run_fresh("next")
        .success()
        .stdout_has("recipients:   28");
}

/// A relay that refuses our VERP envelope sender (a Postfix that knows no
/// `bounces+…` mailbox and rejects unlisted senders) says so at every
/// RCPT: the run stops at once, nobody is failed or bounced, and the next
/// send through a working relay delivers to all 30 without
/// `--retry-failed`.
#[test]
fn a_relay_refusing_our_envelope_sender_stops_the_run_and_marks_nobody() {
    let p = Project::sample();
    let all = readers(&p, 30, 5);
    let mut mailboxes: Vec<&str> = all.iter().map(String::as_str).collect();
    mailboxes.push("bounces@example.org");
    let postfix = Postfix::strict_sender(&mailboxes);
    to_postfix(&p, &postfix);
    with_bounces(&p, "");
    p.send(&[])
        .failure()
        .stderr_has("550 5.1.0 <bounces+")
        .stderr_has("Sender address rejected")
        .stderr_has("not the readers: nobody was marked failed");
    let st = log_statuses(&p);
    assert_eq!(st.get("failed"), None, "{st:?}");
    assert_eq!(st.get("sent"), None, "{st:?}");
    assert!(statuses(&p).values().all(|s| s == "subscribed"));
    assert!(!p.path("subscribers.example.bounces.csv").exists());

    let sink = SmtpSink::start(&[]);
    let config = p.read("config.toml");
    let start = config.find("[smtp]").expect("[smtp]");
    let end = config[start..]
        .find("\n[")
        .map_or(config.len(), |i| start + i + 1);
    p.write(
        "config.toml",
        format!(
            "{}[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n{}",
            &config[..start],
            sink.port,
            &config[end..]
        ),
    );
    p.send(&[]).success().stdout_has("sent:         30");
    let got: BTreeSet<String> = sink.settled().into_iter().map(|r| r.rcpt).collect();
    assert_eq!(got.len(), 30);
}

/// The same refusal with no enhanced code for everyone on five domains
/// trips the breaker after ten: those ten are due again, nobody is
/// bounced, and a working relay then delivers to all 30.
#[test]
fn the_same_unexplained_refusal_on_five_domains_bounces_nobody() {
    let server = Scripted::start(Default::default(), |c, _| {
        (c == Cmd::Rcpt).then_some(Act::Reply("550 mailbox unavailable"))
    });
    let p = Project::sample();
    readers(&p, 30, 5);
    p.with_server(server.port, "", "concurrency = 1");
    with_bounces(&p, "");
    p.send(&[]).failure().stderr_has(
        "10 readers in a row were refused with the same reply (550 mailbox unavailable)",
    );
    let st = log_statuses(&p);
    assert_eq!(st.get("failed"), None, "{st:?}");
    assert_eq!(st.get("deferred"), Some(&10), "{st:?}");
    assert!(statuses(&p).values().all(|s| s == "subscribed"));

    let good = Scripted::accepting();
    p.edit(
        "config.toml",
        &format!("port = {}\n", server.port),
        &format!("port = {}\n", good.port),
    );
    p.send(&[]).success().stdout_has("sent:         30");
    assert_eq!(good.delivered().len(), 30);
}

/// A send whose log is kept elsewhere (`--log`) still has its bounces
/// applied: the VERP token names the reader, found from the list.
#[test]
fn bounces_of_a_send_logged_elsewhere_still_find_their_readers() {
    let refusing = unknown_users();
    let postfix = Postfix::relaying("gone.test", refusing.port);
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "email,name\nann@example.org,Ann\nbo@gone.test,Bo\ncy@gone.test,Cy\n",
    );
    to_postfix(&p, &postfix);
    with_bounces(&p, "");
    p.send(&["--log", "elsewhere/run.csv"])
        .success()
        .stdout_has("sent:         3");
    assert!(!p.path("logs").exists());
    assert_eq!(postfix.wait_for(3), 3, "the DSNs did not arrive");
    let returned: Vec<String> = std::fs::read_dir(postfix.maildir().join("new"))
        .expect("maildir")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).expect("mail"))
        .filter(|m| m.contains("report-type=delivery-status"))
        .collect();
    assert_eq!(returned.len(), 2);
    // The VERP token: 24 and 8 hex digits, inside the 64-octet limit.
    let verp = returned[0]
        .lines()
        .find_map(|l| l.strip_prefix("Delivered-To: bounces+"))
        .expect("VERP");
    let local = verp.split('@').next().expect("local part");
    assert_eq!(local.len(), 33, "{verp}");
    assert!("bounces+".len() + local.len() <= 64);
    let dir = postfix.maildir().display().to_string();
    p.bulletin(&["bounces", "--maildir", &dir])
        .success()
        .stdout_has("2 hard bounces")
        .stdout_has("0 ours but of no known reader")
        .stdout_has("2 readers were marked bounced");
    let st = statuses(&p);
    assert_eq!(st["bo@gone.test"], "bounced");
    assert_eq!(st["cy@gone.test"], "bounced");
    assert_eq!(st["ann@example.org"], "subscribed");
}
