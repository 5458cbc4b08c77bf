//! The readers: the subscriber list file (read as a snapshot, changed only
//! under its lock: status changes appended as rows, anything else a
//! rewrite renamed into place), a running view of it for `serve` and for a
//! send in progress, and the tokens that stand for a reader in links.
//!
//! Uses `input` only.

pub mod compact;
pub mod consent;
pub mod details;
pub mod files;
pub mod import;
pub mod ledger;
pub mod lines;
pub mod list_file;
pub mod outbox;
pub mod repair;
pub mod rows;
pub mod standing;
pub mod subscribers;
pub mod tags;
pub mod unsubscribe;
pub mod view;
pub mod watch;
pub mod welcome;
