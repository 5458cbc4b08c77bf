//! The readers still to try: the list, streamed, and the retries, by due
//! time, handed to the workers one at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::audience::subscribers::Subscriber;

/// One reader to try, and how many times they were tried already.
pub struct Job {
    pub sub: Subscriber,
    pub attempts: u32,
}

/// Readers still to try: the list, streamed, and the retries, by due time.
pub struct Queue {
    source: std::sync::Mutex<Box<dyn Iterator<Item = Subscriber> + Send>>,
    retries: std::sync::Mutex<BinaryHeap<Reverse<(Instant, u64, RetryJob)>>>,
    seq: AtomicU64,
    /// Set when the run must end: no new message starts after it.
    stopped: std::sync::atomic::AtomicBool,
    /// Set once the list has no reader left to hand out.
    exhausted: std::sync::atomic::AtomicBool,
}

/// A job in the retry heap, ordered by due time then insertion.
struct RetryJob(Job);

impl PartialEq for RetryJob {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for RetryJob {}
impl PartialOrd for RetryJob {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RetryJob {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Queue {
    pub fn new(source: Box<dyn Iterator<Item = Subscriber> + Send>) -> Self {
        Self {
            source: std::sync::Mutex::new(source),
            retries: std::sync::Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
            stopped: std::sync::atomic::AtomicBool::new(false),
            exhausted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether nothing is left to hand out: the list is through and no
    /// retry waits (a reader in flight may still come back as one).
    pub fn is_drained(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
            && self
                .retries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    pub fn retry(&self, job: Job, at: Instant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Reverse((at, seq, RetryJob(job))));
    }

    pub async fn next(&self) -> Option<Job> {
        loop {
            if self.is_stopped() {
                return None;
            }
            let earliest = {
                let mut heap = self.retries.lock().unwrap_or_else(|e| e.into_inner());
                match heap.peek() {
                    Some(Reverse((at, _, _))) if *at <= Instant::now() => {
                        return heap.pop().map(|Reverse((_, _, RetryJob(job)))| job);
                    }
                    top => top.map(|Reverse((at, _, _))| *at),
                }
            };
            let fresh = self.source.lock().unwrap_or_else(|e| e.into_inner()).next();
            if let Some(sub) = fresh {
                return Some(Job { sub, attempts: 0 });
            }
            self.exhausted.store(true, Ordering::Relaxed);
            match earliest {
                Some(at) => tokio::time::sleep_until(at).await,
                None => return None,
            }
        }
    }
}
