//! Integration tests: the real `bulletin` binary run in a scratch folder.

mod compliance;
mod compose;
mod inputs;
mod send;
mod servers;
mod snapshots;
mod subscribers;
mod util;
