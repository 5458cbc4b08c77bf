//! The welcome issue (`[serve] welcome`): a sign-up confirmed through
//! `serve` gets it at smtp-sink, filled in from what the reader gave, with
//! one-click unsubscribe and DKIM; once per address ever; owed across a
//! relay outage and a restart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::compliance::{dkim_key, dkim_verify};
use crate::serve::{Served, client, confirm_as_shown, dumped, project, wait_for_mail};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project, inspect_eml};

pub const WELCOME: &str = "issues/welcome.toml";

pub fn write_welcome(p: &Project) {
    p.write(
        WELCOME,
        "subject = \"Welcome, {{ first_name | default(\\\"reader\\\") }}\"\n\
         layout = \"letter\"\n\
         archive = false\n\
         intro = \"Hi {{ name | default(\\\"there\\\") }}, thank you for signing up with {{ email }}.\"\n\
         [[story]]\n\
         headline = \"What you will get\"\n\
         body = \"A digest every other week.\"\n",
    );
}

/// The welcome mails smtp-sink holds for `to`: (file, subject, text).
fn welcomes(sink: &SmtpSink, to: &str) -> Vec<(PathBuf, String, String)> {
    let files: Vec<PathBuf> = dumped(sink)
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains(&format!("<{to}>"))))
        .collect();
    if files.is_empty() {
        return Vec::new();
    }
    inspect_eml(&files)
        .into_iter()
        .zip(files)
        .map(|(v, f)| {
            let subject = v["headers"]["Subject"].as_str().unwrap_or("").to_owned();
            let text = v["bodies"][0].as_str().unwrap_or("").to_owned();
            (f, subject, text)
        })
        // A test copy of it is marked "[Test] Welcome…".
        .filter(|(_, s, _)| s.trim_start_matches("[Test] ").starts_with("Welcome"))
        .collect()
}

fn wait_for_welcome(sink: &SmtpSink, to: &str) -> (PathBuf, String, String) {
    let start = Instant::now();
    loop {
        if let Some(w) = welcomes(sink, to).into_iter().next() {
            return w;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no welcome to {to}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sign_up(base: &str, email: &str, name: &str) {
    let status = client()
        .post(format!("{base}/subscribe"))
        .form(&[("email", email), ("name", name)])
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);
}

fn press(url: &str) {
    let status = client().post(url).send().expect("post").status();
    assert_eq!(status, 200, "{url}");
}

/// Confirms with the confirm page's fields as shown.
fn confirm(url: &str) {
    let (status, page) = confirm_as_shown(url, None);
    assert_eq!(status, 200, "{url}: {page}");
}

#[test]
fn a_confirmed_reader_is_welcomed_once_ever_with_their_own_fields() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, &format!("welcome = \"{WELCOME}\""));
    write_welcome(&p);
    let (key, record) = dkim_key(&p.path("."), "rsa");
    p.write("record.txt", &record);
    p.with_dkim(&key);
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(&served.base, "ann@example.net", "Ann <b>Lee</b>");
    let first = wait_for_mail(&sink, "ann@example.net", 1).remove(0);
    assert!(
        welcomes(&sink, "ann@example.net").is_empty(),
        "welcomed before confirming"
    );
    confirm(&first);
    let (file, subject, text) = wait_for_welcome(&sink, "ann@example.net");
    assert_eq!(subject, "Welcome, Ann");
    assert!(
        text.contains("Hi Ann <b>Lee</b>, thank you for signing up with ann@example.net."),
        "{text}"
    );
    let v = &inspect_eml(std::slice::from_ref(&file))[0];
    assert_eq!(
        v["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = v["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("header")
        .to_owned();
    // smtp-sink's own lines come before the message; dkimpy reads from it.
    let raw = std::fs::read_to_string(&file).expect("mail");
    let message = &raw[raw
        .find("Received:")
        .or(raw.find("DKIM-Signature:"))
        .unwrap_or(0)..];
    p.write("welcome.eml", message);
    for verdict in dkim_verify(&p.path("record.txt"), &[p.path("welcome.eml")]) {
        assert_eq!(verdict["ok"], true, "{verdict}");
    }
    let ledger = p.read("subscribers.example.welcome.csv");
    assert!(ledger.contains("ann@example.net,,queued,"), "{ledger}");
    assert!(ledger.contains("ann@example.net,,sent,"), "{ledger}");

    // Ann leaves with the welcome's own link, comes back two hours later
    // and confirms again: no second welcome.
    let url = &unsubscribe[1..unsubscribe.find('>').expect("<url>")];
    press(url);
    drop(served);
    let later = (PINNED_EPOCH.parse::<u64>().expect("epoch") + 7200).to_string();
    let served = Served::start(&p, port, &later);
    sign_up(&served.base, "ann@example.net", "Ann");
    // The new link (smtp-sink's file names do not keep the order).
    let links = wait_for_mail(&sink, "ann@example.net", 2);
    let again = links.iter().find(|l| **l != first).expect("a new link");
    confirm(again);
    // Another reader confirming meanwhile is welcomed: the server works.
    sign_up(&served.base, "bo@example.net", "");
    let link = wait_for_mail(&sink, "bo@example.net", 1).remove(0);
    confirm(&link);
    let (_, subject, text) = wait_for_welcome(&sink, "bo@example.net");
    assert_eq!(subject, "Welcome, reader");
    assert!(text.contains("Hi there,"), "{text}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(welcomes(&sink, "ann@example.net").len(), 1);
    drop(served);

    // The welcome issue goes to new readers only: a send to the list is
    // refused; a test copy is fine.
    p.bulletin(&["send", "--issue", WELCOME, "--yes"])
        .failure()
        .stderr_has("this is the welcome issue");
}

#[test]
fn a_welcome_is_owed_across_a_relay_outage_and_a_restart() {
    let sink = SmtpSink::start(&[]);
    let relay_port = sink.port;
    let port = free_port();
    let p = project(port, &sink, &format!("welcome = \"{WELCOME}\""));
    write_welcome(&p);
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(&served.base, "cy@example.net", "Cy Young");
    let link = wait_for_mail(&sink, "cy@example.net", 1).remove(0);
    // The relay goes down; the confirmation is still recorded.
    drop(sink);
    confirm(&link);
    std::thread::sleep(Duration::from_secs(2));
    let ledger = p.read("subscribers.example.welcome.csv");
    assert!(ledger.contains("cy@example.net,,queued,"), "{ledger}");
    assert!(!ledger.contains(",sent,"), "{ledger}");
    // serve restarts before the relay is back.
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(2));
    let relay = SmtpSink::start_on(relay_port, &[]);
    let (_, subject, text) = wait_for_welcome(&relay, "cy@example.net");
    assert_eq!(subject, "Welcome, Cy");
    assert!(text.contains("Hi Cy Young,"), "{text}");
    // Once: another restart mails nothing more.
    drop(served);
    let served = Served::start(&p, port, PINNED_EPOCH);
    std::thread::sleep(Duration::from_secs(2));
    drop(served);
    assert_eq!(welcomes(&relay, "cy@example.net").len(), 1);
}

#[test]
fn a_welcome_needing_a_field_a_sign_up_may_not_give_is_refused_at_start() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, &format!("welcome = \"{WELCOME}\""));
    write_welcome(&p);
    p.edit(WELCOME, "{{ name | default(\\\"there\\\") }}", "{{ name }}");
    p.bulletin(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .failure()
        .stderr_has(&format!(
            "{WELCOME}:4: the welcome issue uses {{{{ name }}}} without a default"
        ));
    // A test copy of it works as for any issue.
    p.bulletin(&["send", "--issue", WELCOME, "--to", "editor@example.net"])
        .success();
    assert_eq!(welcomes(&sink, "editor@example.net").len(), 1);
}

/// A new newsletter has no list yet: `serve` starts with a welcome that
/// holds fields (checked against the list it will create) and welcomes
/// the first reader.
#[test]
fn a_new_newsletter_without_a_list_welcomes_its_first_reader() {
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, &format!("welcome = \"{WELCOME}\""));
    write_welcome(&p);
    std::fs::remove_file(p.path("subscribers.example.csv")).expect("no list yet");
    let served = Served::start(&p, port, PINNED_EPOCH);
    sign_up(&served.base, "first@example.net", "Fay First");
    let link = wait_for_mail(&sink, "first@example.net", 1).remove(0);
    confirm(&link);
    let (_, subject, _) = wait_for_welcome(&sink, "first@example.net");
    assert_eq!(subject, "Welcome, Fay");
}
