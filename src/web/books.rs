//! The side-mail ledgers as `serve` knows them (`audience::ledger`):
//! what the files said at start and every step written since, shared by
//! the list's writer (which queues a confirmed reader's welcome before
//! their `subscribed` row) and the mailer (which records the rest).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::audience::ledger::{self, Kind, Outcome, State};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Email;

/// What this process knows of both side-mail ledgers: what the files said
/// at start and every step written since. The list's writer queues
/// welcomes here; the mailer records the rest.
#[derive(Debug)]
pub struct Books {
    pub list: PathBuf,
    pub confirmations: State,
    pub welcomes: State,
}

impl Books {
    pub fn read(list: &Path) -> Result<Self, Diagnostic> {
        Ok(Self {
            list: list.to_path_buf(),
            confirmations: State::fold(&ledger::read(list, Kind::Confirmation)?),
            welcomes: State::fold(&ledger::read(list, Kind::Welcome)?),
        })
    }

    /// Writes one step of a mail (synced) and notes it.
    pub fn record(
        &mut self,
        kind: Kind,
        email: &Email,
        signed_up: u32,
        outcome: Outcome,
        detail: &str,
        at: SystemTime,
    ) -> Result<(), String> {
        ledger::record(&self.list, kind, email, signed_up, outcome, detail, at)
            .map_err(|d| d.to_string())?;
        let state = match kind {
            Kind::Confirmation => &mut self.confirmations,
            Kind::Welcome => &mut self.welcomes,
        };
        state.note(&email.key(), signed_up, outcome, at);
        Ok(())
    }

    /// Queues a confirmed reader's welcome, unless it may have reached
    /// them already (once an address, ever) or is owed already. One given
    /// up on, or refused, is owed again by this new confirmation.
    pub fn queue_welcome(&mut self, email: &Email, at: SystemTime) -> Result<(), String> {
        let key = email.key();
        let owed = matches!(
            self.welcomes.outcome(&key, 0),
            Some(Outcome::Queued | Outcome::Retry)
        );
        if self.welcomes.reached.contains(&key) || owed {
            return Ok(());
        }
        self.record(Kind::Welcome, email, 0, Outcome::Queued, "", at)
    }
}

pub type SharedBooks = Arc<Mutex<Books>>;
