//! Reading and checking what the editor wrote: the config, the issue file,
//! the Markdown in them and addresses, each parsed once into a checked type
//! and trusted after; every problem reported at its file and line.
//!
//! Uses nothing else of the crate: every other stage builds on it.

pub mod checked;
pub mod config;
pub mod date;
pub mod diagnostic;
pub mod email;
pub mod feed;
pub mod fields;
pub mod issue;
pub mod lang;
pub mod markdown;
pub mod media;
pub mod toml_file;
pub mod when;
pub mod words;
