//! Integration tests: the real `bulletin` binary run in a scratch folder.

mod archive;
mod audience;
mod bounces;
pub mod compliance;
mod compose;
mod consent;
mod content;
mod edges;
mod fields;
mod fleet;
mod inputs;
mod layout;
mod refusals;
mod relays;
mod returned;
mod scripted;
mod send;
mod serve;
mod servers;
mod snapshots;
mod starter;
mod subscribers;
mod tls;
mod util;
mod welcome;
