//! What to do after each attempt, judged by the stage the reply answers
//! (the table in the README: only a refusal about the recipient blames the
//! reader), how long to wait before the next one, and the pace of the run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::smtp::{Failure, Stage};

/// The decision after one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Try again later. `server_wide`: back the whole server off (421, a
    /// dropped set-up), and `drop_connection`: the connection is done.
    Retry {
        code: Option<u16>,
        detail: String,
        server_wide: bool,
        drop_connection: bool,
    },
    /// This reader's address is refused for good.
    Failed { code: Option<u16>, detail: String },
    /// A refusal that may be the reader's or the sender's: the reader is
    /// `failed` unless the same reply comes for `BREAKER` readers in a row,
    /// which stops the run and makes them due again.
    Suspect { code: u16, detail: String },
    /// The message may have arrived; never resent in this run.
    Unknown { detail: String },
    /// No connection could be made: stops the run unless an earlier
    /// connection of this run succeeded (see `Health`).
    Unreachable { detail: String },
    /// About the sender, the message, the session or the relay: nothing
    /// else would get through, so the run stops and every reader stays due.
    Stop { code: Option<u16>, detail: String },
}

/// The enhanced status code (RFC 3463) a reply text starts with, as its
/// class, subject and detail: `5.7.1` -> (5, 7, 1).
pub fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    let first = text.split_whitespace().next()?;
    let mut parts = first.split('.');
    let class = parts.next()?.parse().ok()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
}

/// Whether an enhanced status is about the recipient's mailbox: x.1.x
/// (address) and x.2.x (mailbox), less x.1.7 and x.1.8 (the sender's
/// address) and x.2.3 (the message is too long).
fn about_the_mailbox(subject: u16, detail: u16) -> bool {
    match subject {
        1 => !matches!(detail, 7 | 8),
        2 => detail != 3,
        _ => false,
    }
}

pub fn classify(failure: Failure) -> Verdict {
    match failure {
        Failure::Reply { stage, code, text } => {
            let detail = format!("{code} {text}");
            if code == 421 || (code < 500 && stage.is_setup()) {
                // Closing, or not taking connections now: back off the
                // whole server and reconnect later.
                return Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: true,
                    drop_connection: true,
                };
            }
            if code < 500 {
                return Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: false,
                    drop_connection: false,
                };
            }
            let enhanced = enhanced_status(&text).map(|(_, subject, detail)| (subject, detail));
            let stop = Verdict::Stop {
                code: Some(code),
                detail: format!("{stage}: {detail}"),
            };
            match stage {
                Stage::RcptTo => match enhanced {
                    None => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    Some((s, d)) if about_the_mailbox(s, d) => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    // x.1.7 and x.1.8: the sender's address.
                    Some((1, _)) => stop,
                    // Policy (5.7.x) and the rest may be about the
                    // recipient (its server blocks us) or about us.
                    Some(_) => Verdict::Suspect { code, detail },
                },
                Stage::Message => match enhanced {
                    Some((s, d)) if about_the_mailbox(s, d) => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    // The sender (x.1.7, x.1.8), the mail system, the
                    // content, security or policy: never the reader's fault.
                    Some((1 | 2 | 3 | 6 | 7, _)) => stop,
                    _ if code == 552 => stop,
                    _ => Verdict::Suspect { code, detail },
                },
                _ => stop,
            }
        }
        Failure::Dropped {
            stage: Stage::Message,
            detail,
        } => Verdict::Unknown { detail },
        Failure::Dropped { stage, detail } if stage.is_setup() => Verdict::Unreachable { detail },
        Failure::Dropped { detail, .. } => Verdict::Retry {
            code: None,
            detail,
            server_wide: true,
            drop_connection: true,
        },
        Failure::Unreachable { detail } => Verdict::Unreachable { detail },
        Failure::Unsendable { detail } => Verdict::Failed { code: None, detail },
        Failure::Fatal { detail } => Verdict::Stop { code: None, detail },
    }
}

/// How many readers in a row may get the same ambiguous refusal before it
/// is taken to be about the sender or the message.
pub const BREAKER: usize = 5;

/// A reply with the reader's address taken out, so that the same refusal
/// for different readers compares equal: "550 5.7.1 <…>: blocked".
pub fn reply_pattern(detail: &str, email: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let lower = detail.to_lowercase();
    let needle = email.to_lowercase();
    let mut at = 0;
    // Case-folding can change byte lengths; only then is the text kept whole.
    if needle.is_empty() || lower.len() != detail.len() {
        return detail.to_owned();
    }
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&detail[at..at + found]);
        out.push('…');
        at += found + needle.len();
    }
    out.push_str(&detail[at..]);
    out
}

/// One reader refused ambiguously, remembered by the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub email: String,
    pub message_id: String,
    pub attempts: u32,
}

/// The ambiguous refusals of the run, in a row: the same reply again and
/// again is the sender's problem, not each reader's.
#[derive(Debug, Default)]
pub struct Breaker {
    streak: std::sync::Mutex<Streak>,
    /// Whether `streak` holds anyone: every delivery asks, and at
    /// thousands a second a lock each time would be contended for nothing.
    counting: AtomicBool,
}

#[derive(Debug, Default)]
struct Streak {
    pattern: String,
    readers: Vec<Refused>,
    /// The breaker tripped on `pattern`: readers still in flight that get
    /// the same reply are not `failed` either.
    tripped: bool,
}

impl Breaker {
    /// Counts a suspect refusal. Returns the readers to make due again
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
        streak.readers.push(reader);
        self.counting.store(true, Ordering::Relaxed);
        if streak.readers.len() < BREAKER {
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

    fn reply(stage: Stage, code: u16, text: &str) -> Verdict {
        classify(Failure::Reply {
            stage,
            code,
            text: text.into(),
        })
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Retry { .. } => "retry",
            Verdict::Failed { .. } => "failed",
            Verdict::Suspect { .. } => "suspect",
            Verdict::Unknown { .. } => "unknown",
            Verdict::Unreachable { .. } => "unreachable",
            Verdict::Stop { .. } => "stop",
        }
    }

    /// The README's table of stages and outcomes, row by row.
    #[test]
    fn replies_are_judged_by_the_stage_they_answer() {
        use Stage::*;
        let table: &[(Stage, u16, &str, &str)] = &[
            (Greeting, 554, "no SMTP service here", "stop"),
            (Greeting, 421, "busy", "retry"),
            (Ehlo, 550, "5.7.1 go away", "stop"),
            (Starttls, 454, "4.7.0 TLS not available", "retry"),
            (Auth, 535, "5.7.8 bad credentials", "stop"),
            (Auth, 454, "4.7.0 try later", "retry"),
            (MailFrom, 550, "5.7.1 Sender address rejected", "stop"),
            (MailFrom, 553, "5.7.1 not owned by user", "stop"),
            (MailFrom, 451, "4.3.0 try later", "retry"),
            (RcptTo, 550, "5.1.1 User unknown", "failed"),
            (RcptTo, 552, "5.2.2 Mailbox full", "failed"),
            (RcptTo, 501, "5.1.3 Bad recipient address syntax", "failed"),
            (RcptTo, 550, "User unknown", "failed"),
            (RcptTo, 550, "5.1.8 Bad sender's domain", "stop"),
            (RcptTo, 554, "5.7.1 Relay access denied", "suspect"),
            (RcptTo, 450, "4.2.0 greylisted", "retry"),
            (Data, 554, "5.5.1 no valid recipients", "stop"),
            (Message, 550, "5.1.1 User unknown", "failed"),
            (Message, 552, "5.2.2 Mailbox full", "failed"),
            (Message, 552, "5.2.3 Message too big", "stop"),
            (Message, 552, "Message size exceeds limit", "stop"),
            (
                Message,
                554,
                "5.7.1 Message rejected: Email address is not verified",
                "stop",
            ),
            (Message, 554, "5.6.0 bad content", "stop"),
            (Message, 554, "5.3.4 too big for system", "stop"),
            (
                Message,
                554,
                "Message rejected: Email address is not verified",
                "suspect",
            ),
            (Message, 550, "5.0.0 rejected", "suspect"),
            (Message, 451, "4.3.0 queue full", "retry"),
            (Message, 421, "4.7.0 closing", "retry"),
        ];
        for (stage, code, text, want) in table {
            let got = reply(*stage, *code, text);
            assert_eq!(kind(&got), *want, "{stage} {code} {text}: {got:?}");
        }
    }

    #[test]
    fn a_stop_names_the_stage_and_quotes_the_server() {
        let Verdict::Stop { detail, code } =
            reply(Stage::MailFrom, 550, "5.7.1 Sender address rejected")
        else {
            panic!("not a stop");
        };
        assert_eq!(code, Some(550));
        assert_eq!(detail, "MAIL FROM: 550 5.7.1 Sender address rejected");
    }

    #[test]
    fn a_drop_after_the_message_is_unknown_during_set_up_unreachable_else_a_retry() {
        let drop = |stage| {
            classify(Failure::Dropped {
                stage,
                detail: "eof".into(),
            })
        };
        assert_eq!(kind(&drop(Stage::Message)), "unknown");
        assert_eq!(kind(&drop(Stage::Greeting)), "unreachable");
        assert_eq!(kind(&drop(Stage::RcptTo)), "retry");
        let unsendable = classify(Failure::Unsendable {
            detail: "no SMTPUTF8".into(),
        });
        assert_eq!(kind(&unsendable), "failed");
    }

    #[test]
    fn enhanced_status_codes_are_read_from_the_reply_text() {
        assert_eq!(enhanced_status("5.7.1 Sender rejected"), Some((5, 7, 1)));
        assert_eq!(enhanced_status("4.2.0"), Some((4, 2, 0)));
        assert_eq!(enhanced_status("Message rejected 5.7.1"), None);
        assert_eq!(enhanced_status("1.2.3 x"), None);
        assert_eq!(enhanced_status(""), None);
    }

    #[test]
    fn the_breaker_trips_on_the_same_refusal_for_several_readers_in_a_row() {
        let breaker = Breaker::default();
        let reader = |i: usize| Refused {
            email: format!("r{i}@example.org"),
            message_id: format!("<{i}@x>"),
            attempts: 1,
        };
        let pattern = |i: usize| {
            reply_pattern(
                &format!("554 Message rejected for <r{i}@example.org>"),
                &format!("R{i}@example.org"),
            )
        };
        assert_eq!(pattern(1), "554 Message rejected for <…>");
        for i in 0..BREAKER - 1 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        // A delivery in between starts the count again.
        breaker.delivered();
        for i in 0..BREAKER - 1 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        // So does another reply.
        assert!(breaker.refused("550 other".into(), reader(9)).is_none());
        for i in 0..BREAKER - 1 {
            assert!(breaker.refused(pattern(i), reader(i)).is_none());
        }
        let tripped = breaker
            .refused(pattern(7), reader(7))
            .expect("trips at the fifth");
        assert_eq!(tripped.len(), BREAKER);
        assert_eq!(tripped[BREAKER - 1], reader(7));
        // A reader still in flight with the same reply is not blamed either.
        breaker.delivered();
        assert_eq!(
            breaker.refused(pattern(8), reader(8)),
            Some(vec![reader(8)])
        );
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
