//! A worker's moves when its relay is one of several: the relay out and
//! the reader to the others, a tripped breaker's readers to the others,
//! and `--wait`'s wait for room in a daily limit.

use std::time::SystemTime;

use tokio::time::Instant;

use super::Stop;
use super::fleet;
use super::journal::{LogRow, Status};
use super::pace::Refused;
use super::queue::Job;
use super::worker::{WATCH, Worker};

impl Worker {
    /// A fault of this worker's relay, with several relays: it is out for
    /// its back-off, and the reader goes back to the queue for the others
    /// (the try not counted against them: it was the relay's).
    pub(super) fn fail_over(&mut self, mut job: Job, detail: String, id: &str) -> Result<(), Stop> {
        self.conn = None;
        let relay = self.relay();
        let wait = relay.take_out(&detail);
        relay.quota.give_back();
        let note = format!(
            "relay {} out for {} s: {detail}",
            relay.name,
            wait.as_secs()
        );
        self.recorder
            .submit(vec![self.row(&job, Status::Retry, None, note, id)])?;
        job.attempts = job.attempts.saturating_sub(1);
        self.queue.retry(job, Instant::now());
        Ok(())
    }

    /// This relay's breaker tripped, with several relays: its word on us,
    /// not on the readers. It is out, and the readers of the streak
    /// (logged `failed` so far; these rows win) go to the others now.
    pub(super) fn hand_to_other_relays(
        &mut self,
        streak: Vec<Refused>,
        code: u16,
        detail: &str,
    ) -> Result<(), Stop> {
        self.conn = None;
        let relay = self.relay();
        let n = streak.len();
        let rows = streak
            .iter()
            .map(|r| LogRow {
                email: r.email.clone(),
                status: Status::Retry,
                attempts: r.attempts,
                code: Some(code),
                detail: format!(
                    "to another relay: {n} readers in a row were refused by {} with {detail}",
                    relay.name
                ),
                message_id: r.message_id.clone(),
                relay: relay.name.clone(),
            })
            .collect();
        self.recorder.submit(rows)?;
        // The earlier ones were counted failed; the last one not yet.
        self.tally.unfail(n as u64 - 1, 0);
        relay.quota.give_back();
        if n >= relay.breaker.limit() {
            relay.take_out(&format!("{n} readers in a row refused with {detail}"));
        }
        for r in streak {
            if let Some(sub) = r.sub {
                let job = Job {
                    sub,
                    attempts: r.attempts.saturating_sub(1),
                };
                self.queue.retry(job, Instant::now());
            }
        }
        Ok(())
    }

    /// `--wait`: sleeps until the relay's quota has room (said once), or
    /// the run stops.
    pub(super) async fn wait_for_room(&self, room: SystemTime) {
        let r = self.relay();
        let now = crate::clock();
        let first = {
            let mut said = r.said_wait.lock().unwrap_or_else(|e| e.into_inner());
            said.replace(room) != Some(room)
        };
        if first {
            eprintln!(
                "{}: {} in 24 h used; waiting for room from {}",
                r.name,
                r.quota.used(now),
                fleet::clock_time(room, now)
            );
        }
        while crate::clock() < room && !self.queue.is_stopped() {
            tokio::time::sleep(WATCH.min(room.duration_since(crate::clock()).unwrap_or_default()))
                .await;
        }
    }
}
