//! Delivering an issue: the plan of who is due, then workers, each with its
//! own SMTP connection, that take readers from one queue, record every
//! attempt in the journal (the delivery log) and retry what the server
//! deferred, judged by `policy` and paced by `pace`.
//!
//! Uses `input`, `audience` (the readers) and `compose` (their messages).

mod failover;
pub mod fleet;
pub mod journal;
pub mod pace;
pub mod plan;
pub mod policy;
mod queue;
pub mod quota;
pub mod refusal;
pub mod schedule;
pub mod smtp;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::audience::subscribers::Subscriber;
use crate::audience::watch::ListWatch;
use crate::compose::message::Template;
use crate::input::config::Sending;
use crate::input::email::Email;
use journal::Status;
use journal::recorder::Recorder;
use pace::Pacer;
use queue::Queue;
use smtp::Server;
use worker::Worker;

/// What every worker shares: fixed for the run, but for what the run
/// learns of the relay (`health`, `breaker`) and of the list (`watch`).
pub struct Context {
    pub template: Template,
    /// The messages' Date: when the send, or its wave, began.
    pub date: Stamp,
    /// The relays, in config order; one for `[smtp]`.
    pub relays: Vec<fleet::Relay>,
    pub sending: Sending,
    /// `send --wait`: a relay whose quota is used up waits for room
    /// rather than ending its part of the run.
    pub wait: bool,
    /// How many messages may be signed at once: one a core.
    pub signers: tokio::sync::Semaphore,
    /// The list's changes since the send's snapshot (readers who left
    /// meanwhile), when there is a list to watch.
    pub watch: std::sync::Mutex<Option<ListWatch>>,
    /// Readers the relay refused for good about their mailbox (gone, or
    /// full), with the reply: for the bounce history and the list once the
    /// send ends (a reader the breaker made due again is taken out).
    pub refusals: std::sync::Mutex<Vec<(Email, String, refusal::Blame)>>,
}

/// The enhanced status of a logged reply, which may start with its code
/// (`550 5.1.1 …`).
pub fn reply_status(detail: &str) -> Option<(u8, u16, u16)> {
    let text = detail.trim_start();
    let text = match text.split_once(' ') {
        Some((code, rest)) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => text,
    };
    policy::enhanced_status(text)
}

impl Context {
    /// The first relay: the one a test copy goes through.
    pub fn server(&self) -> &Server {
        &self.relays[0].server
    }

    /// "127.0.0.1:2525", or the relays' names and addresses.
    pub fn describe(&self) -> String {
        match self.relays.as_slice() {
            [one] => one.server.describe(),
            many => many
                .iter()
                .map(|r| format!("{} ({})", r.name, r.server.describe()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Which relays can take a reader now: not out, with room in their
    /// quota at `now`, and with a worker still at work.
    fn able(&self, now: SystemTime) -> Vec<bool> {
        self.relays
            .iter()
            .map(|r| {
                r.out_until().is_none()
                    && r.quota.left(now) != Some(0)
                    && r.active.load(Ordering::Relaxed) > 0
            })
            .collect()
    }

    /// Whether the reader is still to be mailed: checked at each reader's
    /// turn, just before their `sending` row. One `stat` of the list; only
    /// when it changed, the rows appended since are read. So a reader
    /// whose unsubscribe is on disk before their turn is never mailed. If
    /// the list cannot be read, the snapshot's word stands.
    pub fn still_subscribed(&self, email: &Email) -> bool {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let Some(watch) = watch.as_mut() else {
            return true;
        };
        if let Err(d) = watch.poll() {
            eprintln!("warning: {d}; readers who left during the send may still be mailed");
            return true;
        }
        watch
            .standing(email.fingerprint())
            .is_none_or(|s| s.mailed())
    }
}

/// A time workers read and a scheduled run moves on as each wave begins.
#[derive(Debug)]
pub struct Stamp(AtomicU64);

impl Stamp {
    pub fn new(at: SystemTime) -> Self {
        Self(AtomicU64::new(Self::secs(at)))
    }

    fn secs(at: SystemTime) -> u64 {
        at.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    pub fn get(&self) -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, at: SystemTime) {
        self.0.store(Self::secs(at), Ordering::Relaxed);
    }
}

/// Counts of this run's final outcomes.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: AtomicU64,
    pub deferred: AtomicU64,
    pub failed: AtomicU64,
    pub unknown: AtomicU64,
    /// Readers not mailed because they left (or became pending) after the
    /// send's snapshot.
    pub left: AtomicU64,
}

impl Tally {
    fn add(&self, status: Status) {
        let counter = match status {
            Status::Sent => &self.sent,
            Status::Deferred => &self.deferred,
            Status::Failed => &self.failed,
            Status::Unknown => &self.unknown,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Readers counted `failed` whom the breaker made due again.
    fn unfail(&self, failed: u64, deferred: u64) {
        self.failed.fetch_sub(failed, Ordering::Relaxed);
        self.deferred.fetch_add(deferred, Ordering::Relaxed);
    }

    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Sent => self.sent.load(Ordering::Relaxed),
            Status::Deferred => self.deferred.load(Ordering::Relaxed),
            Status::Failed => self.failed.load(Ordering::Relaxed),
            Status::Unknown => self.unknown.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    pub fn done(&self) -> u64 {
        [
            Status::Sent,
            Status::Deferred,
            Status::Failed,
            Status::Unknown,
        ]
        .iter()
        .map(|s| self.get(*s))
        .sum()
    }
}

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error(
        "stopped: {0}. This is about the sender, the message or the relay, not the readers: \
         nobody was marked failed and every reader not reached is still due; fix the cause \
         and run the same command again"
    )]
    Refused(String),
    #[error("{0}; stopped, and every reader not reached is still due")]
    Unreachable(String),
    #[error(
        "stopped: {0} readers in a row were refused with the same reply ({1}); that is taken \
         to be about the sender or the message, so they are due again and nobody was marked \
         failed. Fix the cause and run the same command again"
    )]
    Breaker(usize, String),
    #[error("the delivery log could not be written ({0}); stopped so no send goes unrecorded")]
    Journal(String),
    #[error("cannot build a message: {0}")]
    Message(String),
}

/// Sends to every reader `source` yields, counting final outcomes in `tally`.
pub async fn deliver(
    ctx: Arc<Context>,
    source: Box<dyn Iterator<Item = Subscriber> + Send>,
    recorder: Recorder,
    tally: Arc<Tally>,
) -> Result<(), Stop> {
    let queue = Arc::new(Queue::new(source));
    let pacer = Arc::new(Pacer::new(
        ctx.sending.rate,
        ctx.sending.batch_size,
        ctx.sending.batch_pause,
    ));
    let spread = Arc::new(fleet::Spread::new(ctx.relays.len()));
    let mut workers = tokio::task::JoinSet::new();
    for (relay, r) in ctx.relays.iter().enumerate() {
        for _ in 0..r.concurrency {
            r.active.fetch_add(1, Ordering::Relaxed);
            let w = Worker {
                ctx: ctx.clone(),
                queue: queue.clone(),
                pacer: pacer.clone(),
                spread: spread.clone(),
                relay,
                recorder: recorder.clone(),
                tally: tally.clone(),
                conn: None,
            };
            workers.spawn(w.run());
        }
    }
    let mut first_stop = None;
    while let Some(done) = workers.join_next().await {
        let result = done.unwrap_or_else(|e| Err(Stop::Message(format!("a worker failed: {e}"))));
        if let Err(stop) = result {
            queue.stop();
            first_stop.get_or_insert(stop);
        }
    }
    first_stop.map_or(Ok(()), Err)
}
