//! Mail that content filters score clean: every kind of message bulletin
//! sends (an issue, a test copy, a sign-up's confirmation), delivered by a
//! real Postfix and scored by SpamAssassin with its local tests only.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::bounces::{files_in, to_postfix};
use crate::serve::{Served, client};
use crate::servers::{Postfix, free_port};
use crate::util::Project;

/// SpamAssassin's score for a message and the rules it hit, with their
/// points (`spamassassin -L -t`: local tests, no network).
pub(crate) fn score(message: &Path) -> (f64, Vec<(f64, String)>) {
    let out = Command::new("spamassassin")
        .args(["-L", "-t"])
        .stdin(Stdio::from(std::fs::File::open(message).expect("message")))
        .output()
        .expect("spamassassin must be installed (scripts/install-test-deps)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let details = report
        .split("Content analysis details:")
        .nth(1)
        .unwrap_or_else(|| panic!("no report for {}: {report}", message.display()));
    let total: f64 = details
        .trim_start()
        .trim_start_matches('(')
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a score");
    let rules = details
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let points: f64 = words.next()?.parse().ok()?;
            let name = words.next()?;
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                .then(|| (points, name.to_owned()))
        })
        .collect();
    (total, rules)
}

#[test]
fn every_kind_of_message_scores_clean_with_spamassassin() {
    let postfix = Postfix::start();
    let p = Project::sample();
    to_postfix(&p, &postfix);
    // Dated now, as a real send is: a message dated years before the
    // relay's Received line is itself a spam sign.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let today = [("SOURCE_DATE_EPOCH", now.as_str())];
    // The issue to the sample's four readers, and a test copy.
    p.bulletin_with(
        &["send", "--issue", "issues/2022-08-01.toml", "--yes"],
        &today,
    )
    .success()
    .stdout_has("sent:         4");
    p.bulletin_with(
        &[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--to",
            "editor@example.org",
        ],
        &today,
    )
    .success();
    // A sign-up's confirmation, from `serve`.
    let port = free_port();
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[serve]\npublic_url = \"http://127.0.0.1:{port}\"\n"),
    );
    let served = Served::start(&p, port, &now);
    let status = client()
        .post(format!("{}/subscribe", served.base))
        .form(&[("email", "new.reader@example.org")])
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);
    assert_eq!(postfix.wait_for(6), 6, "not every message arrived");
    drop(served);

    let mut kinds = Vec::new();
    for file in files_in(&postfix.maildir().join("new")) {
        let text = std::fs::read_to_string(&file).expect("mail");
        let kind = if text.contains("Subject: Confirm your subscription") {
            "confirmation"
        } else if text.contains("Delivered-To: editor@example.org") {
            "test copy"
        } else {
            "issue"
        };
        kinds.push(kind);
        let (total, rules) = score(&file);
        eprintln!("{kind}: {total} {rules:?}");
        let bad: Vec<&(f64, String)> = rules
            .iter()
            .filter(|(points, name)| {
                name.starts_with("HTML_FONT")
                    || name.starts_with("FONT_INVIS")
                    || ((name.starts_with("HTML_") || name.starts_with("FONT_")) && *points > 0.0)
            })
            .collect();
        assert!(bad.is_empty(), "{kind}: {bad:?} (all: {rules:?})");
        assert!(total <= 0.0, "{kind} scores {total}: {rules:?}");
    }
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, vec!["confirmation", "issue", "test copy"]);
}
