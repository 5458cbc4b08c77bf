//! Delivering an issue: the plan of who is due, then workers, each with its
//! own SMTP connection, that take readers from one queue, record every
//! attempt in the journal (the delivery log) and retry what the server
//! deferred, judged by `policy` and paced by `pace`.
//!
//! Uses `input`, `audience` (the readers) and `compose` (their messages).

pub mod journal;
pub mod pace;
pub mod plan;
pub mod policy;
mod queue;
pub mod refusal;
pub mod smtp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::time::Instant;

use crate::audience::subscribers::Subscriber;
use crate::audience::watch::ListWatch;
use crate::compose::message::{Recipient, Template};
use crate::input::config::Sending;
use crate::input::email::Email;
use journal::recorder::Recorder;
use journal::{Row, Status};
use pace::{Breaker, Health, Pacer, Refused, backoff, reply_pattern};
use policy::{Verdict, classify};
use queue::{Job, Queue};
use smtp::{Connection, Server};

/// What every worker shares: fixed for the run, but for what the run
/// learns of the relay (`health`, `breaker`) and of the list (`watch`).
pub struct Context {
    pub template: Template,
    pub date: SystemTime,
    pub server: Server,
    pub sending: Sending,
    pub health: Health,
    pub breaker: Breaker,
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
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..ctx.sending.concurrency {
        let w = Worker {
            ctx: ctx.clone(),
            queue: queue.clone(),
            pacer: pacer.clone(),
            recorder: recorder.clone(),
            tally: tally.clone(),
            conn: None,
        };
        workers.spawn(w.run());
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

/// One reader's message with the Message-ID already logged for it, as
/// bytes for the wire.
fn build(ctx: &Context, sub: &Subscriber, id: String) -> Result<Vec<u8>, String> {
    let to = Recipient {
        email: &sub.email,
        name: sub.name.as_ref(),
        row: sub.row.as_ref(),
    };
    ctx.template
        .build_with_id(to, ctx.date, id)
        .map_err(|e| e.to_string())
}

struct Worker {
    ctx: Arc<Context>,
    queue: Arc<Queue>,
    pacer: Arc<Pacer>,
    recorder: Recorder,
    tally: Arc<Tally>,
    conn: Option<Connection>,
}

impl Worker {
    async fn run(mut self) -> Result<(), Stop> {
        let result = self.work().await;
        if let Some(conn) = self.conn.take() {
            conn.quit(&self.ctx.server).await;
        }
        result
    }

    async fn work(&mut self) -> Result<(), Stop> {
        while let Some(job) = self.queue.next().await {
            self.pacer.acquire().await;
            if self.queue.is_stopped() {
                // Never started: it stays due for the next run.
                return Ok(());
            }
            if !self.ctx.still_subscribed(&job.sub.email) {
                self.tally.left.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.attempt(job).await?;
        }
        Ok(())
    }

    fn row(&self, job: &Job, status: Status, code: Option<u16>, detail: String, id: &str) -> Row {
        Row {
            email: job.sub.email.to_string(),
            status,
            attempts: job.attempts,
            code,
            detail,
            message_id: id.to_owned(),
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
        Ok(())
    }

    /// After a refused transaction: RSET, or drop a connection that will
    /// not take it.
    async fn reset_or_drop(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && !conn.reset(&self.ctx.server).await
        {
            self.conn = None;
        }
    }

    async fn attempt(&mut self, mut job: Job) -> Result<(), Stop> {
        let shared = self.ctx.clone();
        let ctx = &*shared;
        job.attempts += 1;
        let id = ctx.template.message_id(&job.sub.email);
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
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => {
                let conn = ctx.server.connect().await;
                if conn.is_ok() {
                    ctx.health.connected();
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
                    &ctx.server,
                    &ctx.template.return_path(&job.sub.email, &id),
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
                ctx.breaker.delivered();
                let code = reply.split(' ').next().and_then(|c| c.parse().ok());
                return self.finish(&job, Status::Sent, code, reply, &id);
            }
            Err(f) => f,
        };
        let sender = ctx.template.return_path(&job.sub.email, &id).to_string();
        match classify(failure, Some(&sender)) {
            Verdict::Unreachable { detail } => {
                self.conn = None;
                if !ctx.health.failed() {
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
                };
                let pattern = reply_pattern(&detail, &reader.email);
                let Some(streak) = ctx.breaker.refused(pattern, reader) else {
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
                self.queue.stop();
                {
                    // Not theirs after all: no bounce, no history.
                    let named: std::collections::HashSet<&str> =
                        streak.iter().map(|r| r.email.as_str()).collect();
                    ctx.refusals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|(email, _, _)| !named.contains(email.as_str()));
                }
                // The earlier ones were logged `failed` (and counted so);
                // these later rows win, so the next run sends to them again.
                let rows = streak
                    .iter()
                    .map(|r| Row {
                        email: r.email.clone(),
                        status: Status::Deferred,
                        attempts: r.attempts,
                        code: Some(code),
                        detail: format!(
                            "due again: {} readers in a row were refused with {detail}",
                            streak.len()
                        ),
                        message_id: r.message_id.clone(),
                    })
                    .collect();
                self.recorder.submit(rows)?;
                let earlier = streak.len() as u64 - 1;
                self.tally.unfail(earlier, streak.len() as u64);
                if streak.len() < ctx.breaker.limit() {
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
                    Some(_) => format!("{} refused {detail}", ctx.server.describe()),
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
        self.recorder
            .submit(vec![self.row(&job, Status::Retry, code, detail, id)])?;
        self.queue.retry(job, Instant::now() + wait);
        Ok(())
    }
}
