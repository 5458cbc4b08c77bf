//! From a checked issue to the bytes of one reader's message: Markdown
//! rendered to HTML and text, the MIME message with its headers, the DKIM
//! signature, the pre-send check of what mailbox providers ask, and the
//! web archive's pages and feed.
//!
//! Pure, no I/O but reading the DKIM key. Uses `input`, and `audience` for
//! the reader's unsubscribe link.

pub mod compliance;
pub mod confirm;
pub mod dkim;
pub mod encoded;
pub mod headers;
pub mod look;
pub mod message;
pub mod personal;
pub mod render;
pub mod site;
