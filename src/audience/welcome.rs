//! The welcome ledger, `logs/welcome.csv` (`time,email,outcome,detail`):
//! a confirmed sign-up's welcome is `queued` there before the list says
//! `subscribed`, then `sent` (or `gave-up`) once tried. It is the
//! welcome's durable outbox (a restart mails what is queued and not done)
//! and its memory: an address is welcomed once ever, whatever it does
//! after. Also the reader as the welcome fills them in: the row they gave
//! at sign-up.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audience::details::reader_of;
use crate::audience::list_file::undefuse;
use crate::audience::subscribers::{Columns, Snapshot, Subscriber};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Email;

const HEADER: &str = "time,email,outcome,detail\n";

/// What became of an address's welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Owed: its sign-up was confirmed.
    Queued,
    Sent,
    /// Tried until `confirm_retry_minutes` ran out; a later confirmation
    /// tries again.
    GaveUp,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Sent => "sent",
            Outcome::GaveUp => "gave-up",
        }
    }
}

/// What the ledger says, by address key.
#[derive(Debug, Default)]
pub struct Ledger {
    pub path: PathBuf,
    /// Every address with a row.
    pub known: HashSet<String>,
    pub sent: HashSet<String>,
    /// Tried and given up (not sent since).
    pub gave_up: HashSet<String>,
}

impl Ledger {
    /// Reads `path` (none yet: an empty ledger).
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            ..Ledger::default()
        };
        if !path.exists() {
            return Ok(ledger);
        }
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| Diagnostic::new(path, None, format!("cannot be read: {e}")))?;
        for record in reader.records().flatten() {
            let get = |i| undefuse(record.get(i).unwrap_or("")).trim().to_lowercase();
            let email = get(1);
            if email.is_empty() {
                continue;
            }
            match get(2).as_str() {
                "sent" => {
                    ledger.gave_up.remove(&email);
                    ledger.sent.insert(email.clone());
                }
                "gave-up" => {
                    ledger.gave_up.insert(email.clone());
                }
                "queued" => {}
                _ => continue,
            }
            ledger.known.insert(email);
        }
        Ok(ledger)
    }

    /// The addresses whose welcome is queued and was never tried to the
    /// end: what a restart mails.
    pub fn owed(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .known
            .iter()
            .filter(|e| !self.sent.contains(*e) && !self.gave_up.contains(*e))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Appends a row for `email`, synced, and notes it.
    pub fn record(
        &mut self,
        email: &Email,
        outcome: Outcome,
        detail: &str,
        at: SystemTime,
    ) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::audience::files::append_record(
            &self.path,
            HEADER,
            &[
                &humantime::format_rfc3339_seconds(at).to_string(),
                email.as_str(),
                outcome.as_str(),
                detail,
            ],
        )?;
        let key = email.key();
        match outcome {
            Outcome::Sent => {
                self.gave_up.remove(&key);
                self.sent.insert(key.clone());
            }
            Outcome::GaveUp => {
                self.gave_up.insert(key.clone());
            }
            Outcome::Queued => {
                self.gave_up.remove(&key);
            }
        }
        self.known.insert(key);
        Ok(())
    }
}

/// The reader a welcome goes to, as the list has them now: `None` when
/// they are not subscribed (left again, or never confirmed: no welcome),
/// else their row with their details as they stand (`details`: what their
/// confirmation recorded, never what a sign-up typed), and the list's
/// columns as they are now (a rewrite may have added one since `serve`
/// started).
pub fn reader(list: &Path, email: &Email) -> Result<Option<(Subscriber, Columns)>, Diagnostic> {
    let snap = Snapshot::take(list)?;
    Ok(reader_of(&snap, email)?
        .filter(|(standing, _, _)| standing.mailed())
        .map(|(_, s, columns)| (s, columns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_remembers_every_address_and_owes_the_queued_ones() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("logs").join("welcome.csv");
        let mut ledger = Ledger::read(&path).expect("read");
        let at = SystemTime::UNIX_EPOCH;
        let ann = Email::parse("Ann@Example.org").expect("email");
        let bo = Email::parse("bo@example.org").expect("email");
        ledger.record(&ann, Outcome::Queued, "", at).expect("write");
        ledger.record(&bo, Outcome::Queued, "", at).expect("write");
        ledger.record(&bo, Outcome::Sent, "", at).expect("write");
        let again = Ledger::read(&path).expect("read");
        assert_eq!(again.owed(), vec!["ann@example.org".to_owned()]);
        assert!(again.sent.contains("bo@example.org"));
        assert!(again.known.contains("ann@example.org"));
    }
}
