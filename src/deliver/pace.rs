//! The pace and health of a run: the steady rate and batch pauses, the
//! backoff before a retry, the breaker that stops a run when readers in a
//! row, across domains, get the same permanent refusal, and whether the
//! relay is reachable.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How many readers in a row may get the same permanent refusal (its
/// addresses masked) before it is taken to be about the sender or the
/// message: `[sending] breaker`'s default.
pub const BREAKER: usize = crate::input::config::BREAKER;

/// ... and across how many recipient domains at least: one domain refusing
/// its own readers alike (a provider's policy) is not yet the relay's word
/// on us.
pub const BREAKER_DOMAINS: usize = 3;

/// A reply as the breaker and the summaries compare it: addresses and
/// tokens masked, so the same refusal for different readers reads the
/// same ("550 5.7.1 <…>: blocked").
pub fn reply_pattern(detail: &str, _email: &str) -> String {
    super::refusal::mask(detail)
}

/// One reader refused, remembered by the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub email: String,
    pub message_id: String,
    pub attempts: u32,
    /// The reader, to try again on another relay when this relay's
    /// breaker trips (several relays).
    pub sub: Option<crate::audience::subscribers::Subscriber>,
}

/// The permanent refusals of the run, in a row: the same reply again and
/// again, across domains, is the sender's problem, not each reader's.
#[derive(Debug)]
pub struct Breaker {
    limit: usize,
    streak: std::sync::Mutex<Streak>,
    /// Whether `streak` holds anyone: every delivery asks, and at
    /// thousands a second a lock each time would be contended for nothing.
    counting: AtomicBool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(BREAKER)
    }
}

#[derive(Debug, Default)]
struct Streak {
    pattern: String,
    readers: Vec<Refused>,
    domains: std::collections::HashSet<String>,
    /// The breaker tripped on `pattern`: readers still in flight that get
    /// the same reply are not `failed` either.
    tripped: bool,
}

impl Breaker {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            streak: Default::default(),
            counting: AtomicBool::new(false),
        }
    }

    /// How many in a row trip it.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Counts a permanent refusal. Returns the readers to make due again
    /// when it trips: the whole streak, and after that each one more
    /// refused with the same reply.
    pub fn refused(&self, pattern: String, reader: Refused) -> Option<Vec<Refused>> {
        let mut streak = self.streak.lock().unwrap_or_else(|e| e.into_inner());
        if streak.tripped && streak.pattern == pattern {
            return Some(vec![reader]);
        }
        if streak.pattern != pattern || streak.tripped {
            *streak = Streak {
                pattern,
                ..Streak::default()
            };
        }
        streak
            .domains
            .insert(super::refusal::domain_of(&reader.email));
        streak.readers.push(reader);
        self.counting.store(true, Ordering::Relaxed);
        if streak.readers.len() < self.limit || streak.domains.len() < BREAKER_DOMAINS {
            return None;
        }
        streak.tripped = true;
        Some(std::mem::take(&mut streak.readers))
    }

    /// A delivery: the sender and the message are fine after all.
    pub fn delivered(&self) {
        if !self.counting.load(Ordering::Relaxed) {
            return;
        }
        let mut streak = self.streak.lock().unwrap_or_else(|e| e.into_inner());
        if !streak.tripped {
            *streak = Streak::default();
            self.counting.store(false, Ordering::Relaxed);
        }
    }
}

/// After one connection of the run succeeded, this many failed connections
/// in a row (none succeeding between them) end the run as a dead relay.
pub const CONNECT_FAILURES: u32 = 5;

/// Whether the relay can be reached: a run whose first connection fails
/// ends at once; one that connected before ends after `CONNECT_FAILURES`
/// failures in a row.
#[derive(Debug, Default)]
pub struct Health {
    connected: AtomicBool,
    failures: AtomicU32,
}

impl Health {
    pub fn connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Counts a failed connection; `true` when the run should end.
    pub fn failed(&self) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        !self.connected.load(Ordering::Relaxed) || failures >= CONNECT_FAILURES
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, times a random
/// factor in [0.5, 1.5) so retries from many workers spread out; at most 10 min.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(600));
    capped.mul_f64(0.5 + fastrand::f64())
}

/// Hands out sending slots: a steady rate across all connections, a pause
/// after each batch, and a hold on the whole server after a 421.
pub struct Pacer {
    interval: Option<Duration>,
    batch_size: u64,
    batch_pause: Duration,
    state: Mutex<PaceState>,
}

struct PaceState {
    next: Instant,
    handed: u64,
}

impl Pacer {
    pub fn new(rate: f64, batch_size: u64, batch_pause: Duration) -> Self {
        Self {
            interval: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            batch_size,
            batch_pause,
            state: Mutex::new(PaceState {
                next: Instant::now(),
                handed: 0,
            }),
        }
    }

    /// Waits for this worker's turn to start a message.
    pub async fn acquire(&self) {
        let slot = {
            let mut st = self.state.lock().await;
            let slot = st.next.max(Instant::now());
            st.handed += 1;
            st.next = slot + self.interval.unwrap_or_default();
            if self.batch_size > 0 && st.handed % self.batch_size == 0 {
                st.next += self.batch_pause;
            }
            slot
        };
        // tokio's timer ticks every millisecond: a sleep for a slot already
        // due would still wait for the next tick, a millisecond a message.
        if slot > Instant::now() {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// No worker starts a message before `until`.
    pub async fn hold_until(&self, until: Instant) {
        let mut st = self.state.lock().await;
        st.next = st.next.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_trips_on_the_same_refusal_for_readers_in_a_row_across_domains() {
        let breaker = Breaker::new(4);
        let reader = |i: usize| Refused {
            email: format!("r{i}@d{}.org", i % 3),
            message_id: format!("<{i}@x>"),
            attempts: 1,
            sub: None,
        };
        let pattern = |i: usize| {
            reply_pattern(
                &format!("554 Message rejected for <r{i}@d{}.org>", i % 3),
                "",
            )
        };
        assert_eq!(pattern(1), "554 Message rejected for <…>");
        for i in 0..3 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        // A delivery in between starts the count again.
        breaker.delivered();
        for i in 0..3 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        // So does another reply.
        assert!(breaker.refused("550 other".into(), reader(9)).is_none());
        for i in 0..3 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        let tripped = breaker
            .refused(pattern(7), reader(7))
            .expect("trips at the fourth");
        assert_eq!(tripped.len(), 4);
        assert_eq!(tripped[3], reader(7));
        // A reader still in flight with the same reply is not blamed either.
        breaker.delivered();
        assert_eq!(
            breaker.refused(pattern(8), reader(8)),
            Some(vec![reader(8)])
        );
    }

    #[test]
    fn one_domain_refusing_its_own_readers_alike_does_not_trip_the_breaker() {
        let breaker = Breaker::new(3);
        let one = |i: usize| Refused {
            email: format!("r{i}@gmail.com"),
            message_id: format!("<{i}@x>"),
            attempts: 1,
            sub: None,
        };
        for i in 0..50 {
            assert!(breaker.refused("550 5.7.26 DMARC".into(), one(i)).is_none());
        }
        let other = |d: &str| Refused {
            email: format!("x@{d}"),
            message_id: "<y@x>".into(),
            attempts: 1,
            sub: None,
        };
        assert!(
            breaker
                .refused("550 5.7.26 DMARC".into(), other("a.org"))
                .is_none()
        );
        let tripped = breaker
            .refused("550 5.7.26 DMARC".into(), other("b.org"))
            .expect("three domains");
        assert_eq!(tripped.len(), 52);
    }

    #[test]
    fn the_first_connection_failing_ends_the_run_and_later_a_run_of_failures_does() {
        let health = Health::default();
        assert!(health.failed(), "no connection ever succeeded");
        let health = Health::default();
        health.connected();
        for _ in 1..CONNECT_FAILURES {
            assert!(!health.failed());
        }
        health.connected();
        for _ in 1..CONNECT_FAILURES {
            assert!(!health.failed());
        }
        assert!(health.failed());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        for _ in 0..100 {
            let first = backoff(base, 1);
            assert!(first >= Duration::from_secs(1) && first < Duration::from_secs(3));
            let third = backoff(base, 3);
            assert!(third >= Duration::from_secs(4) && third < Duration::from_secs(12));
            assert!(backoff(base, 40) < Duration::from_secs(901));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_messages_and_pauses_between_batches() {
        let pacer = Pacer::new(10.0, 3, Duration::from_secs(5));
        let start = Instant::now();
        for _ in 0..4 {
            pacer.acquire().await;
        }
        // Three at 0, 0.1, 0.2 s; the fourth after the 5 s batch pause.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(5300), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(5400), "{elapsed:?}");
    }
}
