//! Integration tests: the real `bulletin` binary run in a scratch folder.

mod compose;
mod inputs;
mod send;
mod servers;
mod snapshots;
mod util;
