//! The side-mail ledgers beside the list: `<list>.confirmations.csv`
//! (each web sign-up's confirmation) and `<list>.welcome.csv` (each
//! confirmed reader's welcome issue), `time,email,signed_up,outcome,detail`.
//! They follow the delivery log's rules: a mail's `sending` row is synced
//! before its bytes go to the relay, then its outcome: `sent`, `unknown`
//! (the reply to the final dot never came: it may have arrived, and it is
//! never sent again on its own), `retry` (refused for now; tried again),
//! `failed` (refused for good), `gave-up` (retries ran out). A welcome is
//! also `queued` before the list says `subscribed`. The last row of a mail
//! decides, and a `sending` row with nothing after it is `unknown`: so a
//! kill at any point sends no message twice. This module is the one writer
//! and the one reader of both files; they are never in `logs/`, where
//! delivery logs are looked for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audience::list_file::undefuse;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, key_of};

/// Which ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One mail a sign-up, keyed by the address and the sign-up's time.
    Confirmation,
    /// One mail an address, ever.
    Welcome,
}

/// One step of a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A welcome owed (written before the reader's `subscribed` row).
    Queued,
    /// About to go to the relay (synced first).
    Sending,
    /// A transient refusal or no connection: tried again.
    Retry,
    Sent,
    /// No reply to the final dot: it may have arrived.
    Unknown,
    /// Refused for good (a 5xx).
    Failed,
    /// Retried until the time allowed ran out.
    GaveUp,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Sending => "sending",
            Outcome::Retry => "retry",
            Outcome::Sent => "sent",
            Outcome::Unknown => "unknown",
            Outcome::Failed => "failed",
            Outcome::GaveUp => "gave-up",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Outcome::Queued,
            "sending" => Outcome::Sending,
            "retry" => Outcome::Retry,
            "sent" => Outcome::Sent,
            "unknown" => Outcome::Unknown,
            "failed" => Outcome::Failed,
            "gave-up" => Outcome::GaveUp,
            _ => return None,
        })
    }

    /// Whether the mail may have reached the reader.
    pub fn may_have_arrived(self) -> bool {
        matches!(self, Outcome::Sending | Outcome::Sent | Outcome::Unknown)
    }

    /// Whether nothing more is to be done about the mail on its own.
    pub fn settled(self) -> bool {
        !matches!(self, Outcome::Queued | Outcome::Retry)
    }
}

/// One row of a ledger as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: SystemTime,
    /// The address as written.
    pub email: String,
    /// The sign-up the confirmation was for (Unix seconds); 0 for a welcome.
    pub signed_up: u32,
    pub outcome: Outcome,
    pub detail: String,
}

const HEADER: &str = "time,email,signed_up,outcome,detail\n";

/// The ledger of `kind` beside `list`.
pub fn path(list: &Path, kind: Kind) -> PathBuf {
    let stem = list.file_stem().unwrap_or_default().to_string_lossy();
    let what = match kind {
        Kind::Confirmation => "confirmations",
        Kind::Welcome => "welcome",
    };
    list.with_file_name(format!("{stem}.{what}.csv"))
}

/// Where the welcome ledger was kept before it moved beside the list:
/// `logs/welcome.csv` beside the config, where it was read as an issue's
/// delivery log. Moved (`adopt`) when `serve` starts.
pub fn adopt(list: &Path, old: &Path) -> std::io::Result<bool> {
    let new = path(list, Kind::Welcome);
    if !old.exists() || new.exists() {
        return Ok(false);
    }
    std::fs::rename(old, &new)?;
    Ok(true)
}

/// Every row of the ledger, in order (none yet: empty). A row that cannot
/// be read (torn by a crash before its mail went) is passed over.
pub fn read(list: &Path, kind: Kind) -> Result<Vec<Attempt>, Diagnostic> {
    let file = path(list, kind);
    if !file.exists() {
        return Ok(Vec::new());
    }
    let cannot = |e: csv::Error| Diagnostic::new(&file, None, format!("cannot be read: {e}"));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&file)
        .map_err(cannot)?;
    // By name: the welcome ledger had no `signed_up` column at first.
    let headers = reader.headers().map_err(cannot)?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (time, email, signed_up, outcome, detail) = (
        col("time"),
        col("email"),
        col("signed_up"),
        col("outcome"),
        col("detail"),
    );
    let mut out = Vec::new();
    for record in reader.records().flatten() {
        let get = |i: Option<usize>| undefuse(i.and_then(|i| record.get(i)).unwrap_or("").trim());
        let (Ok(at), Some(outcome)) = (
            humantime::parse_rfc3339_weak(get(time)),
            Outcome::parse(get(outcome)),
        ) else {
            continue;
        };
        if get(email).is_empty() {
            continue;
        }
        out.push(Attempt {
            at,
            email: get(email).to_owned(),
            signed_up: get(signed_up).parse().unwrap_or(0),
            outcome,
            detail: get(detail).to_owned(),
        });
    }
    Ok(out)
}

/// Appends one step of a mail, synced (a `sending` row must be on disk
/// before the mail goes).
pub fn record(
    list: &Path,
    kind: Kind,
    email: &Email,
    signed_up: u32,
    outcome: Outcome,
    detail: &str,
    at: SystemTime,
) -> Result<(), Diagnostic> {
    let file = path(list, kind);
    let signed_up = match kind {
        Kind::Confirmation => signed_up.to_string(),
        Kind::Welcome => String::new(),
    };
    crate::audience::files::append_record(
        &file,
        HEADER,
        &[
            &humantime::format_rfc3339_seconds(at).to_string(),
            email.as_str(),
            &signed_up,
            outcome.as_str(),
            detail,
        ],
    )
    .map_err(|e| Diagnostic::new(&file, None, format!("cannot be written: {e}")))
}

/// What a ledger says, folded: the last step of each mail (keyed by the
/// address's key and, for a confirmation, its sign-up), and when each
/// address last had a mail that may have reached it, or a refusal.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub last: HashMap<(String, u32), Outcome>,
    pub last_mailed: HashMap<String, SystemTime>,
    pub last_refused: HashMap<String, SystemTime>,
    /// Addresses whose mail may have reached them, ever (a welcome goes
    /// once an address).
    pub reached: std::collections::HashSet<String>,
}

impl State {
    /// Folds rows in order. A `sending` row left last stays `Sending`:
    /// read back, it is `unknown` (`outcome`).
    pub fn fold(rows: &[Attempt]) -> Self {
        let mut state = State::default();
        for row in rows {
            state.note(&key_of(&row.email), row.signed_up, row.outcome, row.at);
        }
        state
    }

    /// Takes one step in, as `record` writes it.
    pub fn note(&mut self, key: &str, signed_up: u32, outcome: Outcome, at: SystemTime) {
        self.last.insert((key.to_owned(), signed_up), outcome);
        if outcome.may_have_arrived() {
            self.reached.insert(key.to_owned());
            let last = self.last_mailed.entry(key.to_owned()).or_insert(at);
            *last = (*last).max(at);
        }
        if outcome == Outcome::Failed {
            self.last_refused.insert(key.to_owned(), at);
        }
    }

    /// The last step of a mail; a `sending` row nothing followed is
    /// `unknown`.
    pub fn outcome(&self, key: &str, signed_up: u32) -> Option<Outcome> {
        self.last
            .get(&(key.to_owned(), signed_up))
            .map(|o| match o {
                Outcome::Sending => Outcome::Unknown,
                o => *o,
            })
    }

    /// Mails whose last step is `unknown` (or a `sending` nothing
    /// followed): they may have arrived, and are not sent again on their own.
    pub fn unknown(&self) -> u64 {
        self.last
            .values()
            .filter(|o| matches!(o, Outcome::Unknown | Outcome::Sending))
            .count() as u64
    }

    /// The welcomes owed: queued (or being retried) and never possibly
    /// delivered, by address key.
    pub fn owed(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .last
            .iter()
            .filter(|((key, _), o)| {
                matches!(o, Outcome::Queued | Outcome::Retry) && !self.reached.contains(key)
            })
            .map(|((key, _), _)| key.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_step_decides_and_a_sending_row_left_last_is_unknown() {
        let dir = tempfile::tempdir().expect("dir");
        let list = dir.path().join("list.csv");
        let at = SystemTime::UNIX_EPOCH;
        let ann = Email::parse("Ann@Bücher.de").expect("email");
        let bo = Email::parse("bo@example.org").expect("email");
        for (who, outcome) in [
            (&ann, Outcome::Queued),
            (&bo, Outcome::Queued),
            (&bo, Outcome::Sending),
            (&bo, Outcome::Retry),
            (&bo, Outcome::Sending),
        ] {
            record(&list, Kind::Welcome, who, 0, outcome, "", at).expect("write");
        }
        let state = State::fold(&read(&list, Kind::Welcome).expect("read"));
        assert_eq!(state.owed(), vec!["ann@xn--bcher-kva.de".to_owned()]);
        assert_eq!(
            state.outcome("bo@example.org", 0),
            Some(Outcome::Unknown),
            "a kill after the sending row: it may have arrived"
        );
        assert_eq!(state.unknown(), 1);
        assert!(state.reached.contains("bo@example.org"));
        // The welcome ledger as it was first written, without signed_up.
        let old = dir.path().join("old.csv");
        std::fs::write(
            &old,
            "time,email,outcome,detail\n1970-01-01T00:00:00Z,cy@x.org,sent,\n",
        )
        .expect("write");
        let list2 = dir.path().join("two.csv");
        assert!(adopt(&list2, &old).expect("move"));
        let rows = read(&list2, Kind::Welcome).expect("read");
        assert_eq!(rows[0].outcome, Outcome::Sent);
        assert_eq!(rows[0].email, "cy@x.org");
    }
}
