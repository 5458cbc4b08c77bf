//! One worker: one connection to its relay, taking readers from the
//! run's queue in turn (its relay's share, pace and quota permitting),
//! recording each attempt, and judging each failure by `policy`: a
//! reader's own fault, a retry, the relay's fault (with several relays,
//! it is taken out and the reader goes to the others), or a stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::journal::recorder::Recorder;
use super::journal::{LogRow, Status};
use super::pace::{Pacer, Refused, backoff, reply_pattern};
use super::policy::{Verdict, classify};
use super::queue::{Job, Queue};
use super::smtp::Connection;
use super::{Context, Stop, Tally, fleet, refusal};
use crate::audience::subscribers::Subscriber;
use crate::compose::message::Recipient;

/// How often a worker waiting on its relay looks again.
pub(super) const WATCH: std::time::Duration = std::time::Duration::from_secs(1);

/// One reader's message with the Message-ID already logged for it, as
/// bytes for the wire.
fn build(ctx: &Context, sub: &Subscriber, id: String) -> Result<Vec<u8>, String> {
    let to = Recipient {
        email: &sub.email,
        name: sub.name.as_ref(),
        row: sub.row.as_ref(),
    };
    // In the reader's language, when the issue has it.
    ctx.template
        .for_reader(sub.lang.as_ref())
        .build_with_id(to, ctx.date.get(), id)
        .map_err(|e| e.to_string())
}

pub(super) struct Worker {
    pub(super) ctx: Arc<Context>,
    pub(super) queue: Arc<Queue>,
    pub(super) pacer: Arc<Pacer>,
    pub(super) spread: Arc<fleet::Spread>,
    /// The relay this worker's connection goes to.
    pub(super) relay: usize,
    pub(super) recorder: Recorder,
    pub(super) tally: Arc<Tally>,
    pub(super) conn: Option<Connection>,
}

impl Worker {
    pub(super) async fn run(mut self) -> Result<(), Stop> {
        let result = self.work().await;
        self.relay().active.fetch_sub(1, Ordering::Relaxed);
        if let Some(conn) = self.conn.take() {
            conn.quit(&self.ctx.relays[self.relay].server).await;
        }
        result
    }

    pub(super) fn relay(&self) -> &fleet::Relay {
        &self.ctx.relays[self.relay]
    }

    async fn work(&mut self) -> Result<(), Stop> {
        loop {
            if self.queue.is_stopped() {
                return Ok(());
            }
            let fleet = self.ctx.relays.len() > 1;
            if fleet {
                if let Some(until) = self.relay().out_until() {
                    if self.queue.is_drained() {
                        // Nothing left for it when it is back.
                        return Ok(());
                    }
                    // Every relay out, or done (its quota used, its
                    // workers gone): nothing would send; stop as one relay
                    // does.
                    let done = |r: &fleet::Relay| r.active.load(Ordering::Relaxed) == 0;
                    if self
                        .ctx
                        .relays
                        .iter()
                        .all(|r| r.out_until().is_some() || done(r))
                    {
                        self.queue.stop();
                        let why: Vec<String> = self
                            .ctx
                            .relays
                            .iter()
                            .map(|r| match r.out_until() {
                                Some(_) => format!("{}: {}", r.name, r.why_out()),
                                None => format!("{}: its daily limit is used", r.name),
                            })
                            .collect();
                        return Err(Stop::Unreachable(format!(
                            "every relay is out ({})",
                            why.join("; ")
                        )));
                    }
                    tokio::time::sleep_until(until.min(Instant::now() + WATCH)).await;
                    continue;
                }
                let weights: Vec<u32> = self.ctx.relays.iter().map(|r| r.weight).collect();
                let able = self.ctx.able(crate::clock());
                if !self.spread.take(self.relay, &weights, &able) {
                    self.spread.wait().await;
                    continue;
                }
            }
            let Some(job) = self.queue.next().await else {
                return Ok(());
            };
            // Room in the relay's daily quota, or (with --wait) the wait
            // for it; without, the reader goes back for another relay or
            // the next run, and this relay's part of the run ends.
            let room = if self.relay().quota.limit().is_some() {
                self.relay().quota.take(crate::clock())
            } else {
                Ok(())
            };
            if let Err(room) = room {
                if !self.ctx.wait {
                    self.queue.retry(job, Instant::now());
                    return Ok(());
                }
                self.queue.retry(job, Instant::now());
                self.wait_for_room(room).await;
                continue;
            }
            self.pacer.acquire().await;
            if self.relay().paced {
                self.relay().pacer.acquire().await;
            }
            if self.queue.is_stopped() {
                // Never started: it stays due for the next run.
                self.relay().quota.give_back();
                return Ok(());
            }
            if !self.ctx.still_subscribed(&job.sub.email) {
                self.relay().quota.give_back();
                self.tally.left.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.attempt(job).await?;
        }
    }

    pub(super) fn row(
        &self,
        job: &Job,
        status: Status,
        code: Option<u16>,
        detail: String,
        id: &str,
    ) -> LogRow {
        LogRow {
            email: job.sub.email.to_string(),
            status,
            attempts: job.attempts,
            code,
            detail,
            message_id: id.to_owned(),
            relay: self.relay().name.clone(),
        }
    }

    /// Records a final outcome. Not awaited: the worker's next `sending`
    /// row waits for it, and nothing else depends on it being on disk.
    fn finish(
        &self,
        job: &Job,
        status: Status,
        code: Option<u16>,
        detail: String,
        id: &str,
    ) -> Result<(), Stop> {
        self.recorder
            .submit(vec![self.row(job, status, code, detail, id)])?;
        self.tally.add(status);
        if !matches!(status, Status::Sent | Status::Unknown) {
            // Only what the relay took counts against its quota.
            self.relay().quota.give_back();
        }
        if status == Status::Sent {
            self.relay().sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// After a refused transaction: RSET, or drop a connection that will
    /// not take it.
    async fn reset_or_drop(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && !conn.reset(&self.ctx.relays[self.relay].server).await
        {
            self.conn = None;
        }
    }

    async fn attempt(&mut self, mut job: Job) -> Result<(), Stop> {
        let shared = self.ctx.clone();
        let ctx = &*shared;
        job.attempts += 1;
        let template = ctx.template.for_reader(job.sub.lang.as_ref());
        let id = template.message_id(&job.sub.email);
        // The `sending` row must be on disk before the message can arrive.
        // Its sync, on the writer thread, overlaps the envelope commands and
        // building the message, and is awaited before the data. Measured
        // against smtp-sink at one connection, building before recording
        // cost a tenth of the throughput.
        let logged = self.recorder.record(vec![self.row(
            &job,
            Status::Sending,
            None,
            String::new(),
            &id,
        )])?;
        let relay = &ctx.relays[self.relay];
        let fleet = ctx.relays.len() > 1;
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => {
                let conn = relay.server.connect().await;
                match &conn {
                    Ok(_) => relay.connected(),
                    // With several relays, one that cannot be reached, or
                    // fails TLS or AUTH, is out for a while; the others
                    // take its share, and this reader goes to them.
                    Err(f) if fleet => return self.fail_over(job, f.to_string(), &id),
                    Err(_) => {}
                }
                conn
            }
        };
        let result = match conn {
            Ok(conn) => {
                let message = async {
                    if ctx.template.is_signed() {
                        // An RSA signature costs about 0.2 ms: sign on the
                        // blocking pool, so every core signs while this thread
                        // sends; no more signing at once than there are cores.
                        let _permit = ctx.signers.acquire().await;
                        let (ctx, sub, id) = (shared.clone(), job.sub.clone(), id.clone());
                        tokio::task::spawn_blocking(move || build(&ctx, &sub, id))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                    } else {
                        build(ctx, &job.sub, id.clone())
                    }
                };
                let conn = self.conn.insert(conn);
                conn.send(
                    &relay.server,
                    &template.return_path(&job.sub.email, &id),
                    &job.sub.email.envelope(),
                    message,
                    logged,
                )
                .await
            }
            Err(failure) => Err(failure),
        };
        let failure = match result {
            Ok(reply) => {
                relay.breaker.delivered();
                let code = reply.split(' ').next().and_then(|c| c.parse().ok());
                return self.finish(&job, Status::Sent, code, reply, &id);
            }
            Err(f) => f,
        };
        let sender = template.return_path(&job.sub.email, &id).to_string();
        match classify(failure, Some(&sender)) {
            Verdict::Unreachable { detail } => {
                self.conn = None;
                if fleet {
                    return self.fail_over(job, detail, &id);
                }
                if !relay.health.failed() {
                    return self.retry(job, None, detail, true, &id).await;
                }
                self.queue.stop();
                // Never handed over: due again on the next run.
                self.finish(
                    &job,
                    Status::Deferred,
                    None,
                    format!("run stopped: {detail}"),
                    &id,
                )?;
                Err(Stop::Unreachable(detail))
            }
            Verdict::Failed { code, detail } => {
                self.reset_or_drop().await;
                self.finish(&job, Status::Failed, code, detail, &id)
            }
            Verdict::Refused {
                code,
                detail,
                blame,
            } => {
                self.reset_or_drop().await;
                let reader = Refused {
                    email: job.sub.email.to_string(),
                    message_id: id.clone(),
                    attempts: job.attempts,
                    sub: fleet.then(|| job.sub.clone()),
                };
                let pattern = reply_pattern(&detail, &reader.email);
                let Some(streak) = relay.breaker.refused(pattern, reader) else {
                    // Only what changes the reader's standing is kept for
                    // the end: the log holds every reply, and a cause that
                    // hit a million readers must not be held in memory.
                    if matches!(blame, refusal::Blame::Mailbox | refusal::Blame::Full) {
                        ctx.refusals
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((job.sub.email.clone(), detail.clone(), blame));
                    }
                    return self.finish(&job, Status::Failed, Some(code), detail, &id);
                };
                if !fleet {
                    self.queue.stop();
                }
                {
                    // Not theirs after all: no bounce, no history.
                    let named: std::collections::HashSet<&str> =
                        streak.iter().map(|r| r.email.as_str()).collect();
                    ctx.refusals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|(email, _, _)| !named.contains(email.as_str()));
                }
                if fleet {
                    return self.hand_to_other_relays(streak, code, &detail);
                }
                // The earlier ones were logged `failed` (and counted so);
                // these later rows win, so the next run sends to them again.
                let rows = streak
                    .iter()
                    .map(|r| LogRow {
                        email: r.email.clone(),
                        status: Status::Deferred,
                        attempts: r.attempts,
                        code: Some(code),
                        detail: format!(
                            "due again: {} readers in a row were refused with {detail}",
                            streak.len()
                        ),
                        message_id: r.message_id.clone(),
                        relay: String::new(),
                    })
                    .collect();
                self.recorder.submit(rows)?;
                let earlier = streak.len() as u64 - 1;
                self.tally.unfail(earlier, streak.len() as u64);
                if streak.len() < relay.breaker.limit() {
                    // A reader in flight when the breaker tripped: the
                    // worker that tripped it reports the stop.
                    return Ok(());
                }
                Err(Stop::Breaker(streak.len(), detail))
            }
            Verdict::Unknown { detail } => {
                self.conn = None;
                self.finish(&job, Status::Unknown, None, detail, &id)
            }
            Verdict::Stop { code, detail } => {
                self.conn = None;
                self.queue.stop();
                let detail = match code {
                    Some(_) => format!("{} refused {detail}", relay.server.describe()),
                    None => detail,
                };
                // Not delivered: recorded so the next run tries it again.
                self.finish(
                    &job,
                    Status::Deferred,
                    code,
                    format!("run stopped: {detail}"),
                    &id,
                )?;
                Err(Stop::Refused(detail))
            }
            Verdict::Retry {
                code,
                detail,
                server_wide,
                drop_connection,
            } => {
                if drop_connection {
                    self.conn = None;
                } else {
                    self.reset_or_drop().await;
                }
                if server_wide && fleet {
                    return self.fail_over(job, detail, &id);
                }
                self.retry(job, code, detail, server_wide, &id).await
            }
        }
    }

    /// A transient failure: back off (the whole server when `server_wide`)
    /// and queue the reader again, or record it `deferred` when its
    /// attempts are used up.
    async fn retry(
        &mut self,
        job: Job,
        code: Option<u16>,
        detail: String,
        server_wide: bool,
        id: &str,
    ) -> Result<(), Stop> {
        let sending = &self.ctx.sending;
        let wait = backoff(sending.retry_delay, job.attempts);
        if server_wide {
            self.pacer.hold_until(Instant::now() + wait).await;
        }
        if job.attempts >= sending.max_attempts {
            return self.finish(&job, Status::Deferred, code, detail, id);
        }
        self.relay().quota.give_back();
        self.recorder
            .submit(vec![self.row(&job, Status::Retry, code, detail, id)])?;
        self.queue.retry(job, Instant::now() + wait);
        Ok(())
    }
}
