//! Returned mail in the shapes real servers send it (fixtures written
//! from the published formats: Postfix, Gmail and Office 365 DSNs, Exim's
//! and qmail's plain-text bounces, an ARF complaint with the recipient
//! redacted, out-of-office replies with and without `Auto-Submitted`),
//! each read right; and bounce processing that is exactly-once and never
//! outranks a later decision, over Maildir and over IMAP from Dovecot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::bounces::{
    digest, files_in, log_with, maildir_with, names_in, statuses, with_bounces, with_imap,
};
use crate::servers::Dovecot;
use crate::util::{Project, repo_root};

const LIST: &str = "subscribers.example.csv";

/// A fixture with its placeholders filled: the VERP address of the
/// reader's copy (digest form, found through the log), our Message-ID of
/// it, and the reader's address.
fn fixture(name: &str, digest: &str, reader: &str) -> String {
    let path = repo_root().join("tests/fixtures/returned").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("{VERP}", &format!("bounces+{digest}@example.org"))
        .replace("{ID}", &format!("<{digest}@example.org>"))
        .replace("{RCPT}", reader)
}

/// Each fixture, and the status its reader ends with.
const CASES: &[(&str, &str)] = &[
    ("postfix-user-unknown.eml", "bounced"),
    ("gmail-no-such-account.eml", "bounced"),
    ("gmail-dmarc.eml", "subscribed"),
    ("office365-not-found.eml", "bounced"),
    ("exim-user-unknown.eml", "bounced"),
    ("exim-mailbox-full.eml", "subscribed"),
    ("qmail-no-mailbox.eml", "bounced"),
    ("delayed.eml", "subscribed"),
    ("forwarded-elsewhere.eml", "subscribed"),
    ("arf-redacted.eml", "complained"),
    ("ooo-auto-submitted.eml", "subscribed"),
    ("ooo-plain.eml", "subscribed"),
];

/// A project whose list has one reader per case (`r{i}@example.org`) and
/// whose log names each reader's message.
fn project_for(n: usize) -> (Project, Vec<(String, String)>) {
    let p = Project::sample();
    with_bounces(&p, "");
    let readers: Vec<(String, String)> = (0..n)
        .map(|i| (format!("r{i}@example.org"), digest(500 + i as u32)))
        .collect();
    let mut list = String::from("email,name,status,changed\n");
    for (email, _) in &readers {
        list.push_str(&format!("{email},R,,\n"));
    }
    p.write(LIST, list);
    let pairs: Vec<(&str, &str)> = readers
        .iter()
        .map(|(e, d)| (e.as_str(), d.as_str()))
        .collect();
    log_with(&p, "2022-08-01", &pairs);
    (p, readers)
}

#[test]
fn returned_mail_from_real_servers_is_read_by_its_shape_and_code() {
    let (p, readers) = project_for(CASES.len());
    let mails: Vec<(String, String)> = CASES
        .iter()
        .zip(&readers)
        .map(|((name, _), (email, digest))| (name.to_string(), fixture(name, digest, email)))
        .collect();
    let refs: Vec<(&str, String)> = mails.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
    let dir = maildir_with(&p, &refs);
    p.bulletin(&["bounces", "--maildir", &dir.display().to_string()])
        .success()
        .stdout_has("12 messages read: 5 hard bounces, 1 soft bounces, 1 refusals not about the reader, 1 complaints, 0 unsubscribes")
        .stdout_has("1 naming another recipient")
        .stdout_has("1 × a delay report")
        .stdout_has("2 × an automatic reply");
    let st = statuses(&p);
    let got: BTreeMap<&str, &str> = CASES
        .iter()
        .zip(&readers)
        .map(|((name, _), (email, _))| (*name, st[email].as_str()))
        .collect();
    let want: BTreeMap<&str, &str> = CASES.iter().copied().collect();
    assert_eq!(got, want);
    let history = p.read("subscribers.example.bounces.csv");
    let kind_of = |email: &str| {
        history
            .lines()
            .find(|l| l.contains(&format!(",{email},")))
            .and_then(|l| l.split(',').nth(2))
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        kind_of(&readers[2].0),
        "refused",
        "DMARC: recorded, not bounced"
    );
    assert_eq!(kind_of(&readers[5].0), "soft", "a full mailbox is soft");
    // What is not ours, or not this reader's, is left where it was.
    let left = names_in(&dir.join("new"));
    assert_eq!(
        left,
        vec![
            "delayed.eml",
            "forwarded-elsewhere.eml",
            "ooo-auto-submitted.eml",
            "ooo-plain.eml"
        ]
    );
}

/// A report read again (a person marked it unread, the history was lost,
/// a mailbox restored) never bounces a reader the editor brought back
/// since; a message a person marked Seen before the run is still
/// processed, once.
#[test]
fn bounces_are_processed_once_and_never_outrank_the_editor() {
    let (p, readers) = project_for(2);
    let (bob, ann) = (&readers[0], &readers[1]);
    let report = fixture("postfix-user-unknown.eml", &bob.1, &bob.0);
    let dir = maildir_with(&p, &[("1.report", report.clone())]);
    // Ann's report was opened by a person before the run: Seen, in cur/.
    std::fs::write(
        dir.join("cur/2.report:2,S"),
        fixture("qmail-no-mailbox.eml", &ann.1, &ann.0),
    )
    .expect("write");
    let d = dir.display().to_string();
    p.bulletin(&["bounces", "--maildir", &d])
        .success()
        .stdout_has("2 messages read: 2 hard bounces")
        .stdout_has("2 readers were marked bounced");
    assert_eq!(statuses(&p)[&bob.0], "bounced");
    assert_eq!(statuses(&p)[&ann.0], "bounced");

    // The editor brings bob back.
    p.bulletin(&["subscribe", &bob.0])
        .success()
        .stdout_has("had bounced and is subscribed again");
    // A person marks the report unread: it was processed, it stays so.
    mark_unread(&dir);
    p.bulletin(&["bounces", "--maildir", &d])
        .success()
        .stdout_has("0 messages read")
        .stdout_has("0 readers were marked bounced");
    assert_eq!(statuses(&p)[&bob.0], "subscribed");
    // Marked again, as a courtesy.
    assert!(files_in(&dir.join("new")).is_empty());

    // The history lost, the mailbox restored: the report is read again,
    // but it is older than the editor's decision.
    std::fs::remove_file(p.path("subscribers.example.bounces.csv")).expect("rm");
    mark_unread(&dir);
    p.bulletin(&["bounces", "--maildir", &d])
        .success()
        .stdout_has("2 messages read: 2 hard bounces")
        .stdout_has("0 readers were marked bounced")
        .stdout_has("2 reports older than the reader's last change");
    assert_eq!(statuses(&p)[&bob.0], "subscribed");
    p.dry_run_fresh("next")
        .success()
        .stdout_has("recipients:   1");
}

/// `--delete-processed` over IMAP removes our reports with `UID EXPUNGE`
/// and leaves a message another client marked `\Deleted` where it is.
#[test]
fn imap_deletion_leaves_another_clients_deleted_message_alone() {
    let (p, readers) = project_for(1);
    let report = fixture("gmail-no-such-account.eml", &readers[0].1, &readers[0].0);
    let dir = maildir_with(&p, &[("1.report", report)]);
    // Someone else's message, flagged \Deleted (Maildir's T) and not yet
    // expunged by its client.
    std::fs::write(
        dir.join("cur/2.theirs:2,ST"),
        "From: a@example.net\nTo: bounces@example.org\nMessage-ID: <theirs@example.net>\nSubject: keep me\n\nhi\n",
    )
    .expect("write");
    let dovecot = Dovecot::start(&dir);
    let imap = with_imap(&p, &dovecot);
    p.bulletin_with(&["bounces", "--delete-processed"], &imap)
        .success()
        .stdout_has("2 messages read: 1 hard bounces")
        .stdout_has("1 readers were marked bounced");
    let remaining = |sub: &str| -> Vec<PathBuf> { files_in(&dovecot.maildir.join(sub)) };
    let all: Vec<PathBuf> = remaining("new")
        .into_iter()
        .chain(remaining("cur"))
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    let text = std::fs::read_to_string(&all[0]).expect("theirs");
    assert!(text.contains("keep me"), "{text}");
    // A second run: nothing of ours left, theirs untouched.
    p.bulletin_with(&["bounces", "--delete-processed"], &imap)
        .success()
        .stdout_has("1 messages read: 0 hard bounces");
    assert_eq!(count(&dovecot.maildir), 1);
}

/// What a mail client does to "mark unread" (or a restored backup): every
/// message back in new/, its flags gone.
fn mark_unread(maildir: &Path) {
    for f in files_in(&maildir.join("cur")) {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let plain = name.split(":2,").next().unwrap_or_default().to_owned();
        std::fs::rename(&f, maildir.join("new").join(plain)).expect("mark unread");
    }
}

fn count(maildir: &Path) -> usize {
    files_in(&maildir.join("new")).len() + files_in(&maildir.join("cur")).len()
}
