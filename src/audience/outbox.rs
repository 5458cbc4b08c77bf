//! The confirmation outbox: which web sign-ups have had their confirmation
//! mail. The outbox itself is the list: every live `pending` row wants a
//! mail. What has been done about each is a side file beside the list,
//! `<list>.confirmations.csv` (`time,email,signed_up,outcome,detail`,
//! outcome `sent` or `gave-up`), appended and synced: after a restart,
//! `serve` mails the live sign-ups the file does not name, and `list`
//! counts the pending readers whose mail never left.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::audience::list_file::undefuse;
use crate::audience::standing::Standing;
use crate::audience::subscribers::{Snapshot, SubscriberFile};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, Fingerprint, FingerprintMap, key_fingerprint};

/// `<list>.confirmations.csv` beside the list.
pub fn path(list: &Path) -> PathBuf {
    let stem = list.file_stem().unwrap_or_default().to_string_lossy();
    list.with_file_name(format!("{stem}.confirmations.csv"))
}

const HEADER: &str = "time,email,signed_up,outcome,detail\n";

/// What happened to a sign-up's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    GaveUp,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::GaveUp => "gave-up",
        }
    }
}

/// What the side file says.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Sign-ups (address key, sign-up time) whose mail was sent or given up.
    pub done: HashSet<(String, u32)>,
    /// When each address was last mailed a confirmation.
    pub last_sent: HashMap<String, SystemTime>,
    /// Sign-ups whose mail was sent, by the address's fingerprint.
    pub sent: HashSet<(Fingerprint, u32)>,
}

impl Ledger {
    /// How many sign-ups among `standings` are waiting and were never
    /// mailed their confirmation (given up on, or not yet sent).
    pub fn unmailed(&self, standings: &FingerprintMap<Standing>) -> u64 {
        standings
            .iter()
            .filter(|(key, s)| s.signing_up() && !self.sent.contains(&(**key, s.pending)))
            .count() as u64
    }
}

/// Reads the side file (none yet: an empty ledger).
pub fn read(list: &Path) -> Result<Ledger, Diagnostic> {
    let file = path(list);
    let mut ledger = Ledger::default();
    if !file.exists() {
        return Ok(ledger);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&file)
        .map_err(|e| Diagnostic::new(&file, None, format!("cannot be read: {e}")))?;
    for record in reader.records().flatten() {
        let get = |i| undefuse(record.get(i).unwrap_or("")).trim().to_owned();
        let (Ok(time), Ok(signed_up)) = (
            humantime::parse_rfc3339_weak(&get(0)),
            get(2).parse::<u32>(),
        ) else {
            continue;
        };
        let email = get(1).to_lowercase();
        match get(3).as_str() {
            "sent" => {
                let last = ledger.last_sent.entry(email.clone()).or_insert(time);
                *last = (*last).max(time);
                ledger.sent.insert((key_fingerprint(&email), signed_up));
            }
            "gave-up" => {}
            _ => continue,
        }
        ledger.done.insert((email, signed_up));
    }
    Ok(ledger)
}

/// Appends what happened to one sign-up's mail, synced.
pub fn record(
    list: &Path,
    email: &Email,
    signed_up: u32,
    outcome: Outcome,
    detail: &str,
    at: SystemTime,
) -> std::io::Result<()> {
    crate::audience::files::append_record(
        &path(list),
        HEADER,
        &[
            &humantime::format_rfc3339_seconds(at).to_string(),
            email.as_str(),
            &signed_up.to_string(),
            outcome.as_str(),
            detail,
        ],
    )
}

/// One live sign-up that wants its mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub email: Email,
    /// The sign-up's time (Unix seconds): its link seals it.
    pub signed_up: u32,
}

/// The live sign-ups of the list (younger than `expiry` at `now`) that
/// the ledger does not name: the outbox.
pub fn waiting(
    list: &Path,
    ledger: &Ledger,
    expiry: Duration,
    now: SystemTime,
) -> Result<Vec<Waiting>, Diagnostic> {
    if !list.exists() {
        return Ok(Vec::new());
    }
    let snap = Snapshot::take(list)?;
    let standings: FingerprintMap<Standing> = SubscriberFile::open(&snap)?.standings()?;
    // Most lists have no sign-up waiting: then one pass is all it takes.
    if !standings.values().any(Standing::signing_up) {
        return Ok(Vec::new());
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut out = Vec::new();
    let mut seen = crate::input::email::FingerprintSet::default();
    for s in SubscriberFile::open(&snap)?.flatten() {
        let key = s.email.fingerprint();
        let Some(standing) = standings.get(&key) else {
            continue;
        };
        let live = standing.signing_up()
            && standing.damaged == 0
            && u64::from(standing.pending) + expiry.as_secs() >= now;
        if live && seen.insert(key) && !ledger.done.contains(&(s.email.key(), standing.pending)) {
            out.push(Waiting {
                email: s.email,
                signed_up: standing.pending,
            });
        }
    }
    Ok(out)
}
