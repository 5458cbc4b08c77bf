//! The readers: the subscriber list file (read as a snapshot, written only
//! under its lock, rewritten atomically) and the unsubscribe tokens that
//! stand for a reader in links.
//!
//! Uses `input` only.

pub mod list_file;
pub mod subscribers;
pub mod unsubscribe;
