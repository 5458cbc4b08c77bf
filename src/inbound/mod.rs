//! `bulletin bounces`: reading the return mailbox. Delivery reports,
//! complaints and mailed unsubscribes become status rows on the list;
//! everything else is left exactly as it was.
//!
//! Uses `input`, `audience` (the list, tokens) and `deliver` (the logs, to
//! find which reader and issue a returned message was).

pub mod apply;
pub mod classify;
pub mod imap;
pub mod mailbox;
pub mod plain;
