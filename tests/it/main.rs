//! Integration tests: the real `bulletin` binary run in a scratch folder.

mod compose;
mod inputs;
mod snapshots;
mod util;
