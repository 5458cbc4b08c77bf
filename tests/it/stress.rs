//! Every writer of the list at random moments during a send (issue 25):
//! `serve`'s sign-ups and one-click POSTs, `subscribe`, `unsubscribe`,
//! `bounces` (a mailed unsubscribe), a writer killed mid-row, and
//! `--compact`, while a rate-limited send runs, over many seeds. Checked at
//! smtp-sink: nobody who left before their turn was mailed, nobody who
//! stayed was skipped, nobody new was mailed this issue, nobody twice.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bounces::with_bounces;
use crate::serve::{Served, client, project, unsubscribe_url};
use crate::servers::{SmtpSink, free_port};
use crate::util::{PINNED_EPOCH, Project};

const LIST: &str = "subscribers.example.csv";
const READERS: usize = 50;
/// Readers ahead of the send's last reached one that a writer may touch:
/// at 20 a second, a second and a half before their turn.
const AHEAD: usize = 30;

fn reader(i: usize) -> String {
    format!("r{i}@example.org")
}

/// The highest reader index the send has a row for so far.
fn reached(p: &Project) -> Option<usize> {
    let log = std::fs::read_to_string(p.path("logs/2022-08-01.csv")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.split(',').nth(1))
        .filter_map(|e| {
            e.strip_prefix('r')?
                .strip_suffix("@example.org")?
                .parse()
                .ok()
        })
        .max()
}

/// The token of the List-Unsubscribe mailto in a dry-run's message.
fn mailto_token(p: &Project, email: &str) -> String {
    let file = email.replace('@', "_");
    let eml = p
        .files_in("preview")
        .into_iter()
        .find(|f| f.ends_with(&format!("-{file}.eml")))
        .expect("eml");
    let raw = p.read(&format!("preview/{eml}")).replace("\r\n ", " ");
    raw.split("subject=unsubscribe-")
        .nth(1)
        .and_then(|t| t.split('>').next())
        .expect("token")
        .to_owned()
}

/// What one writer did, and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Did {
    SignUp,
    OneClick,
    Subscribe,
    Unsubscribe,
    MailedUnsubscribe,
    Torn,
    Compact,
}

fn one_run(seed: u64) -> BTreeMap<Did, usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let sink = SmtpSink::start(&[]);
    let port = free_port();
    let p = project(port, &sink, "");
    with_bounces(&p, "");
    p.edit(
        "config.toml",
        "[sending]\n",
        "[sending]\nconcurrency = 1\nrate = 20\n",
    );
    let mut list = String::from("email,name,status,changed\n");
    for i in 0..READERS {
        list.push_str(&format!("{},Reader {i},subscribed,\n", reader(i)));
    }
    p.write(LIST, &list);
    p.dry_run("preview").success();
    // Half the runs start while the list ends in a row a killed writer
    // left unfinished (not a reader): the send's snapshot holds it.
    let torn_at_start = seed.is_multiple_of(2);
    if torn_at_start {
        p.write(LIST, format!("{list}torn0@exa"));
    }
    let served = Served::start(&p, port, PINNED_EPOCH);
    let mut send = p
        .command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send");
    let mut left: BTreeSet<usize> = BTreeSet::new();
    let mut new: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeMap<Did, usize> = BTreeMap::new();
    let start = Instant::now();
    let mut k = 0;
    while send.try_wait().expect("wait").is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "the send hangs");
        std::thread::sleep(Duration::from_millis(rng.u64(20..120)));
        k += 1;
        let from = reached(&p).map_or(0, |r| r + 1);
        // A reader far enough ahead of the send, not yet gone.
        let ahead: Vec<usize> = (from + 10..READERS.min(from + AHEAD))
            .filter(|i| !left.contains(i))
            .collect();
        let target = (!ahead.is_empty()).then(|| ahead[rng.usize(..ahead.len())]);
        if target.is_none() && torn_at_start && k == 1 {
            k = 0;
            continue;
        }
        // With a torn row at the start, the first writer takes a reader
        // off: the change that must end the row, not cut it.
        let pick = if torn_at_start && k == 1 {
            [1, 3, 4][rng.usize(..3)]
        } else {
            rng.u8(0..7)
        };
        let did = match pick {
            0 => {
                let who = format!("web{k}@example.net");
                client()
                    .post(format!("{}/subscribe", served.base))
                    .form(&[("email", who.as_str()), ("name", "New")])
                    .send()
                    .expect("sign-up");
                new.insert(who);
                Did::SignUp
            }
            1 if target.is_some() => {
                let i = target.expect("target");
                let url = unsubscribe_url(&p, "preview", &reader(i));
                let status = client()
                    .post(url)
                    .form(&[("List-Unsubscribe", "One-Click")])
                    .send()
                    .expect("one-click")
                    .status();
                assert_eq!(status, 200);
                left.insert(i);
                Did::OneClick
            }
            2 => {
                let who = format!("cli{k}@example.org");
                p.bulletin(&["subscribe", &who]).success();
                new.insert(who);
                Did::Subscribe
            }
            3 if target.is_some() => {
                let i = target.expect("target");
                p.bulletin(&["unsubscribe", &reader(i)]).success();
                left.insert(i);
                Did::Unsubscribe
            }
            4 if target.is_some() => {
                let i = target.expect("target");
                let dir = p.path(&format!("returns{k}"));
                for sub in ["new", "cur", "tmp"] {
                    std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
                }
                let token = mailto_token(&p, &reader(i));
                std::fs::write(
                    dir.join("new/1"),
                    format!(
                        "From: {}\nTo: unsubscribe@example.org\nMessage-ID: <u{k}@example.org>\nSubject: unsubscribe-{token}\n\n",
                        reader(i)
                    ),
                )
                .expect("mail");
                p.bulletin(&["bounces", "--maildir", &dir.display().to_string()])
                    .success();
                left.insert(i);
                Did::MailedUnsubscribe
            }
            5 => {
                // A writer killed mid-row: it held the lock, wrote part of
                // a row and died.
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(p.path(&format!(".{LIST}.lock")))
                    .expect("lock file");
                lock.lock().expect("lock");
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(p.path(LIST))
                    .expect("list");
                write!(f, "torn{k}@exa").expect("write");
                drop(f);
                drop(lock);
                Did::Torn
            }
            6 => {
                p.bulletin(&["list", "--compact"]).success();
                Did::Compact
            }
            _ => continue,
        };
        *done.entry(did).or_default() += 1;
        // The change is on disk: the send must not have reached whoever
        // it took off, or the check below proves nothing.
        if let (Some(i), Did::OneClick | Did::Unsubscribe | Did::MailedUnsubscribe) = (target, did)
        {
            assert!(
                reached(&p).is_none_or(|r| r < i),
                "seed {seed}: the send reached {} before its writer returned (slow machine: lower the rate)",
                reader(i)
            );
        }
    }
    let out = send.wait_with_output().expect("send");
    // An unreadable row in the snapshot makes the run exit 1 (it names
    // it); nothing else may.
    let want = if torn_at_start { 1 } else { 0 };
    assert_eq!(
        out.status.code(),
        Some(want),
        "seed {seed}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(served);
    // The copies, not `serve`'s confirmations (same relay).
    sink.settled();
    let got: Vec<String> = crate::serve::dumped(&sink)
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter(|m| {
            !m.replace("=\n", "")
                .replace("=\r\n", "")
                .contains("/confirm/")
        })
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("X-Rcpt-Args:"))
                .map(|r| r.trim().trim_matches(['<', '>']).to_owned())
        })
        .collect();
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "seed {seed}: someone mailed twice");
    for i in 0..READERS {
        let mailed = unique.contains(&reader(i));
        assert_eq!(
            mailed,
            !left.contains(&i),
            "seed {seed}: {} mailed {mailed}, left {}",
            reader(i),
            left.contains(&i)
        );
    }
    for who in &new {
        assert!(
            !unique.contains(who),
            "seed {seed}: {who} is new and was mailed"
        );
    }
    done
}

#[test]
fn every_writer_at_random_moments_during_a_send_mails_exactly_who_stayed() {
    let mut total: BTreeMap<Did, usize> = BTreeMap::new();
    for seed in 1..=6 {
        for (did, n) in one_run(seed) {
            *total.entry(did).or_default() += n;
        }
    }
    eprintln!("writers over all seeds: {total:?}");
    for did in [
        Did::SignUp,
        Did::OneClick,
        Did::Subscribe,
        Did::Unsubscribe,
        Did::MailedUnsubscribe,
        Did::Torn,
        Did::Compact,
    ] {
        assert!(
            total.get(&did).copied().unwrap_or(0) > 0,
            "{did:?} never ran"
        );
    }
}
