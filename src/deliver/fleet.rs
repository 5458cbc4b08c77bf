//! Several relays in one send. Each has its own connections, rate,
//! health and breaker; readers are spread over the relays that can take
//! them by weight; a relay at fault is taken out for a while and its share
//! goes to the others; and a relay's daily quota is counted from what went
//! through it in every delivery log, so it holds across runs and issues.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::pace::{Breaker, Health, Pacer};
use super::quota::Book;
use super::smtp::Server;

/// A relay at fault (unreachable, 421 or a server-wide 4xx, TLS or AUTH
/// failing, its breaker tripped) is out for this long, doubling each time
/// it fails again, up to `LONGEST_OUT`; a connection that works resets it.
pub const FIRST_OUT: Duration = Duration::from_secs(30);
pub const LONGEST_OUT: Duration = Duration::from_secs(600);

/// The window a daily limit counts in.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// One relay in a run.
pub struct Relay {
    pub name: String,
    pub server: Server,
    pub weight: u32,
    pub concurrency: usize,
    /// Its own rate (no batches: those are the run's), when it has one
    /// (`paced`).
    pub pacer: Pacer,
    pub paced: bool,
    pub health: Health,
    pub breaker: Breaker,
    pub quota: Quota,
    /// Messages this run handed to it.
    pub sent: std::sync::atomic::AtomicU64,
    /// Its workers still at work: one that has none takes no share.
    pub active: std::sync::atomic::AtomicUsize,
    /// The time of room last said to be waited for (`--wait`), so each
    /// wait is said once, not once a connection.
    pub said_wait: Mutex<Option<SystemTime>>,
    out: Mutex<Out>,
}

#[derive(Debug)]
struct Out {
    until: Option<Instant>,
    next: Duration,
    why: String,
}

impl Relay {
    pub fn new(
        name: String,
        server: Server,
        weight: u32,
        concurrency: usize,
        rate: f64,
        breaker: usize,
        quota: Quota,
    ) -> Self {
        Self {
            name,
            server,
            weight,
            concurrency,
            pacer: Pacer::new(rate, 0, Duration::ZERO),
            paced: rate > 0.0,
            health: Health::default(),
            breaker: Breaker::new(breaker),
            quota,
            sent: Default::default(),
            active: Default::default(),
            said_wait: Mutex::new(None),
            out: Mutex::new(Out {
                until: None,
                next: FIRST_OUT,
                why: String::new(),
            }),
        }
    }

    /// Takes it out for its back-off; returns how long.
    pub fn take_out(&self, why: &str) -> Duration {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let wait = out.next;
        // Already out (another of its connections found the same): once.
        if out.until.is_some_and(|u| u > Instant::now()) {
            return wait;
        }
        out.until = Some(Instant::now() + wait);
        out.next = (wait * 2).min(LONGEST_OUT);
        out.why = why.to_owned();
        eprintln!(
            "relay {} ({}) is out for {} s: {why}",
            self.name,
            self.server.describe(),
            wait.as_secs()
        );
        wait
    }

    /// A connection worked: its next fault starts the back-off over.
    pub fn connected(&self) {
        self.health.connected();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if out.until.is_none_or(|u| u <= Instant::now()) {
            out.until = None;
            out.next = FIRST_OUT;
        }
    }

    /// Until when it is out, if it is.
    pub fn out_until(&self) -> Option<Instant> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.until.filter(|u| *u > Instant::now())
    }

    /// Why it was last taken out.
    pub fn why_out(&self) -> String {
        self.out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .why
            .clone()
    }
}

/// Spreads readers by weight: a relay takes the next reader only while it
/// is among the least advanced (readers given / weight) of the relays
/// that can take one now. A relay that comes back is set level with the
/// others rather than let catch up.
pub struct Spread {
    given: Mutex<Vec<f64>>,
    changed: Notify,
}

impl Spread {
    pub fn new(relays: usize) -> Self {
        Self {
            given: Mutex::new(vec![0.0; relays]),
            changed: Notify::new(),
        }
    }

    /// Whether relay `r` (of `weights`) may take the next reader, given
    /// which relays can take one now (`able`). Taking it counts it.
    pub fn take(&self, r: usize, weights: &[u32], able: &[bool]) -> bool {
        let mut given = self.given.lock().unwrap_or_else(|e| e.into_inner());
        let progress = |i: usize, g: &[f64]| g[i] / f64::from(weights[i].max(1));
        let least = (0..given.len())
            .filter(|&i| able[i] && i != r)
            .map(|i| progress(i, &given))
            .fold(f64::INFINITY, f64::min);
        if least.is_finite() && progress(r, &given) < least - 1.0 {
            // Back after an outage: level with the others.
            given[r] = least * f64::from(weights[r].max(1));
        }
        if progress(r, &given) > least + 1e-9 {
            return false;
        }
        given[r] += 1.0;
        drop(given);
        self.changed.notify_waiters();
        true
    }

    /// Waits for another relay to take a reader (or a little while).
    pub async fn wait(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(20), self.changed.notified()).await;
    }
}

/// A relay's daily limit, counted over a rolling window in the
/// reservation book every sender of the newsletter shares
/// (`deliver::quota`): a message takes its room there before it goes.
/// Room is taken a few messages at a time (one synced write, not one a
/// message); what this process took and did not use is kept for its next
/// messages while it is fresh, and given back to the book when it is not,
/// or when the quota is dropped (a kill leaves it taken: the relay gets
/// less, never more).
pub struct Quota {
    relay: String,
    limit: Option<u64>,
    window: Duration,
    /// `None` without a limit: then nothing is counted.
    book: Option<std::sync::Arc<Book>>,
    held: Mutex<Held>,
    /// Reservations taken at once, at most (`AHEAD` for a send).
    ahead: u64,
}

/// This process's reservations: those messages took (latest last; only
/// the latest `IN_FLIGHT` are kept, more than can be in flight at once,
/// since a message that went says nothing) and those taken ahead, unused.
#[derive(Default)]
struct Held {
    taken: Vec<SystemTime>,
    spare: Vec<SystemTime>,
}

/// More messages than a relay's connections can have in flight at once.
const IN_FLIGHT: usize = 1024;

/// Reservations taken at once, at most.
const AHEAD: u64 = 32;

/// A spare reservation older than this is given back rather than used: it
/// counts from when it was taken, and the relay counts from when the
/// message arrives.
const FRESH: Duration = Duration::from_secs(1);

impl Quota {
    pub fn new(
        relay: &str,
        limit: Option<u64>,
        window: Duration,
        book: Option<std::sync::Arc<Book>>,
    ) -> Self {
        Self {
            relay: relay.to_owned(),
            limit,
            window,
            book: limit.and(book),
            held: Mutex::new(Held::default()),
            ahead: AHEAD,
        }
    }

    /// Takes room one message at a time: for a sender of a few messages
    /// now and then (`serve`, a test copy), which would otherwise hold room
    /// it does not use.
    #[must_use]
    pub fn one_at_a_time(mut self) -> Self {
        self.ahead = 1;
        self
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn to_book(&self, at: &[SystemTime]) {
        if let Some(book) = &self.book
            && let Err(e) = book.give_back(&self.relay, at)
        {
            eprintln!("{}: the quota book cannot be written: {e}", self.relay);
        }
    }

    /// Takes one message's room at `now`, or says when there is room
    /// again. A book that cannot be written is no room (said on stderr):
    /// when in doubt, do not mail.
    pub fn take(&self, now: SystemTime) -> Result<(), SystemTime> {
        let (Some(limit), Some(book)) = (self.limit, &self.book) else {
            return Ok(());
        };
        let mut held = self.held();
        let stale: Vec<SystemTime> = {
            let (fresh, stale) = held
                .spare
                .iter()
                .partition(|t| now.duration_since(**t).unwrap_or_default() < FRESH);
            held.spare = fresh;
            stale
        };
        self.to_book(&stale);
        if held.taken.len() >= 2 * IN_FLIGHT {
            held.taken.drain(..IN_FLIGHT);
        }
        if let Some(at) = held.spare.pop() {
            held.taken.push(at);
            return Ok(());
        }
        let nothing = |_: &str| (Vec::new(), None);
        match book.reserve(&self.relay, limit, self.window, now, self.ahead, &nothing) {
            Ok(Ok(n)) => {
                held.taken.push(now);
                held.spare.extend((1..n).map(|_| now));
                Ok(())
            }
            Ok(Err(room)) => Err(room),
            Err(e) => {
                eprintln!("{}: the quota book cannot be written: {e}", self.relay);
                Err(now + Duration::from_secs(60))
            }
        }
    }

    /// Gives back the room taken for a message that did not go (kept for
    /// this process's next message while fresh).
    pub fn give_back(&self) {
        let mut held = self.held();
        if let Some(at) = held.taken.pop() {
            held.spare.push(at);
        }
    }

    /// Gives every reservation taken ahead and unused back to the book.
    pub fn release(&self) {
        let spare = std::mem::take(&mut self.held().spare);
        self.to_book(&spare);
    }

    fn usage(&self, now: SystemTime) -> (u64, Option<SystemTime>) {
        match &self.book {
            Some(book) => book
                .usage(&self.relay, self.limit, self.window, now)
                .unwrap_or((self.limit.unwrap_or(0), Some(now + Duration::from_secs(60)))),
            None => (0, None),
        }
    }

    /// Messages sent (or reserved) in the window at `now`, by every sender,
    /// less what this process holds unused.
    pub fn used(&self, now: SystemTime) -> u64 {
        let spare = self.held().spare.len() as u64;
        self.usage(now).0.saturating_sub(spare)
    }

    /// What is left at `now`; `None` without a limit.
    pub fn left(&self, now: SystemTime) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used(now)))
    }

    /// When there is room again, if there is none at `now`.
    pub fn room_from(&self, now: SystemTime) -> Option<SystemTime> {
        self.limit?;
        if self.left(now).is_some_and(|l| l > 0) {
            return None;
        }
        self.usage(now).1
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        self.release();
    }
}

/// What the delivery logs say of each relay: its sends (`sent` or
/// `unknown`: a relay that may have taken a message counts it) at or
/// after `since`, and its first send ever.
#[derive(Debug, Default)]
pub struct Usage {
    pub sends: HashMap<String, Vec<SystemTime>>,
    pub first: HashMap<String, SystemTime>,
}

/// Reads the delivery logs given (`journal::every_log`), for the relays
/// named. A log written before the `relay` column names none and counts
/// for none; a file that cannot be read counts for nothing.
pub fn usage(logs: &[(String, PathBuf)], since: SystemTime, names: &[String]) -> Usage {
    let mut usage = Usage::default();
    for (_, file) in logs {
        let _ = super::journal::each_row(file, |row| {
            let counts = matches!(
                row.status(),
                super::journal::Status::Sent | super::journal::Status::Unknown
            );
            if let (true, Some(name), Some(at)) = (
                counts,
                names.iter().find(|n| n.as_str() == row.relay()),
                row.at(),
            ) {
                let first = usage.first.entry(name.clone()).or_insert(at);
                *first = (*first).min(at);
                if at >= since {
                    usage.sends.entry(name.clone()).or_default().push(at);
                }
            }
            std::ops::ControlFlow::Continue(())
        });
    }
    usage
}

/// "14:05 UTC", or with the date when it is not today.
pub fn clock_time(at: SystemTime, now: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    let today = humantime::format_rfc3339_seconds(now).to_string();
    let (date, time) = stamp.split_at(10);
    let hm = time.get(1..6).unwrap_or("");
    if today.starts_with(date) {
        format!("{hm} UTC")
    } else {
        format!("{date} {hm} UTC")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_counts_a_rolling_window_and_gives_back_what_did_not_go() {
        let dir = tempfile::tempdir().expect("dir");
        let book = std::sync::Arc::new(Book::beside(&dir.path().join("config.toml")));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let q = Quota::new("ses", Some(4), DAY, Some(book.clone()));
        let other = Quota::new("ses", Some(4), DAY, Some(book)).one_at_a_time();
        // A send's first take reserves ahead: all four, one used.
        assert!(q.take(t0).is_ok());
        assert_eq!(other.take(t0), Err(t0 + DAY));
        assert_eq!(q.left(t0), Some(3), "its own spares are room to it");
        // What it did not use goes back to the book for others.
        q.release();
        assert_eq!(other.left(t0), Some(3));
        let now = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(other.take(now).is_ok());
        }
        // Full for both: room again when the oldest send is a day old.
        assert_eq!(q.take(now), Err(t0 + DAY));
        assert_eq!(q.room_from(now), Some(t0 + DAY));
        other.give_back();
        other.release();
        assert_eq!(q.left(now), Some(1));
        assert_eq!(q.left(t0 + DAY + Duration::from_secs(61)), Some(2));
        assert!(Quota::new("x", None, DAY, None).take(now).is_ok());
    }

    #[test]
    fn readers_are_spread_by_weight_over_the_relays_that_can_take_them() {
        let spread = Spread::new(2);
        let weights = [1, 3];
        let mut given = [0, 0];
        for _ in 0..400 {
            for r in [0, 1] {
                if spread.take(r, &weights, &[true, true]) {
                    given[r] += 1;
                }
            }
        }
        let ratio = f64::from(given[1]) / f64::from(given[0]);
        assert!((ratio - 3.0).abs() < 0.05, "{given:?}");
        // Relay 1 out: relay 0 takes every reader.
        for _ in 0..10 {
            assert!(spread.take(0, &weights, &[true, false]));
        }
        // Back: level, not a burst to catch up.
        let mut burst = 0;
        while spread.take(1, &weights, &[true, true]) {
            burst += 1;
        }
        assert!(burst <= 4, "{burst}");
    }
}
