//! What to do after each attempt (the SMTP reply table of docs/email.md),
//! how long to wait before the next one, and the pace of the whole run.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::smtp::Failure;

/// The decision after one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Try again later. `server_wide`: back the whole server off (421, a
    /// refused connection), and `drop_connection`: the connection is done.
    Retry {
        code: Option<u16>,
        detail: String,
        server_wide: bool,
        drop_connection: bool,
    },
    /// This reader's address is refused for good (5xx).
    Failed { code: u16, detail: String },
    /// The message may have arrived; never resent in this run.
    Unknown { detail: String },
    /// Nothing else would get through (authentication, TLS): stop the run.
    Abort { code: Option<u16>, detail: String },
}

pub fn classify(failure: Failure) -> Verdict {
    match failure {
        Failure::Reply { code, text } => {
            let detail = format!("{code} {text}");
            match code {
                421 => Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: true,
                    drop_connection: true,
                },
                // Authentication required / failed / too weak / needs encryption.
                530 | 534 | 535 | 538 => Verdict::Abort {
                    code: Some(code),
                    detail,
                },
                400..=499 => Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: false,
                    drop_connection: false,
                },
                _ => Verdict::Failed { code, detail },
            }
        }
        Failure::Dropped {
            detail,
            handed_over: true,
        } => Verdict::Unknown { detail },
        Failure::Dropped { detail, .. } => Verdict::Retry {
            code: None,
            detail,
            server_wide: true,
            drop_connection: true,
        },
        Failure::Fatal { detail } => Verdict::Abort { code: None, detail },
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

    fn reply(code: u16) -> Failure {
        Failure::Reply {
            code,
            text: "x".into(),
        }
    }

    #[test]
    fn replies_are_classified_as_in_the_reply_table() {
        assert!(matches!(
            classify(reply(421)),
            Verdict::Retry {
                server_wide: true,
                drop_connection: true,
                ..
            }
        ));
        assert!(matches!(
            classify(reply(451)),
            Verdict::Retry {
                server_wide: false,
                ..
            }
        ));
        assert!(matches!(
            classify(reply(550)),
            Verdict::Failed { code: 550, .. }
        ));
        assert!(matches!(classify(reply(535)), Verdict::Abort { .. }));
        assert!(matches!(classify(reply(530)), Verdict::Abort { .. }));
    }

    #[test]
    fn a_drop_after_the_message_is_unknown_and_before_it_a_retry() {
        let drop = |handed_over| Failure::Dropped {
            detail: "eof".into(),
            handed_over,
        };
        assert!(matches!(classify(drop(true)), Verdict::Unknown { .. }));
        assert!(matches!(classify(drop(false)), Verdict::Retry { .. }));
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
