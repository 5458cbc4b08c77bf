//! Confirmation mail, sent by one task over one SMTP connection (opened
//! when needed, kept while mail keeps coming), so a burst of sign-ups is
//! one session and a slow relay never holds up a page.
//!
//! Durable: the outbox is the list's live `pending` rows
//! (`audience::outbox`), so a restart mails what was not mailed. A mail
//! that fails is tried again with back-off (1 s, doubling, at most 5 min
//! apart) for `confirm_retry_for` from when it was queued; then it is
//! given up, said once on stderr and in the outbox's ledger. An address
//! gets at most one confirmation in `confirm_resend_after`, however many
//! sign-ups ask for one: nobody can mail-bomb an address through us.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::audience::outbox::{self, Outcome, Waiting};
use crate::audience::unsubscribe::Unsubscriber;
use crate::compose::confirm;
use crate::compose::dkim::Signer;
use crate::deliver::smtp::{Connection, Server};
use crate::input::config::Newsletter;
use crate::input::email::ascii_domain;

/// Sign-ups waiting for the mailer at most; past that a sign-up is told
/// to try again (its row is written; the next sign-up queues its mail).
pub const QUEUE: usize = 10_000;

/// Everything the mailer needs.
pub struct MailerSetup {
    pub newsletter: Newsletter,
    pub server: Server,
    pub dkim: Option<Signer>,
    pub tokens: Arc<Unsubscriber>,
    pub public_url: String,
    pub list: PathBuf,
    pub resend_after: Duration,
    pub retry_for: Duration,
}

#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Waiting>,
}

impl Mailer {
    /// Starts the task with the sign-ups the list says still want mail.
    pub fn start(setup: MailerSetup, outbox: Vec<Waiting>, ledger: outbox::Ledger) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(Arc::new(setup), rx, outbox, ledger.last_sent));
        Self { tx }
    }

    /// Queues a sign-up's mail; `false` when the queue is full.
    pub fn send(&self, waiting: Waiting) -> bool {
        self.tx.try_send(waiting).is_ok()
    }
}

/// A mail being tried.
struct Job {
    waiting: Waiting,
    give_up_at: Instant,
    wait: Duration,
}

const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(300);

async fn run(
    setup: Arc<MailerSetup>,
    mut rx: mpsc::Receiver<Waiting>,
    outbox: Vec<Waiting>,
    mut last_sent: HashMap<String, SystemTime>,
) {
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut jobs: HashMap<u64, Job> = HashMap::new();
    let mut next_id = 0u64;
    let mut conn: Option<Connection> = None;
    let mut queue = |jobs: &mut HashMap<u64, Job>, due: &mut BinaryHeap<_>, w: Waiting| {
        // One mail a sign-up, whoever asks how often.
        if jobs.values().any(|j| j.waiting == w) {
            return;
        }
        next_id += 1;
        let now = Instant::now();
        due.push(Reverse((now, next_id)));
        jobs.insert(
            next_id,
            Job {
                waiting: w,
                give_up_at: now + setup.retry_for,
                wait: FIRST_WAIT,
            },
        );
    };
    for w in outbox {
        queue(&mut jobs, &mut due, w);
    }
    loop {
        let next = due.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            got = rx.recv() => match got {
                Some(w) => queue(&mut jobs, &mut due, w),
                None => break,
            },
            () = sleep_until(next) => {
                let Some(Reverse((_, id))) = due.pop() else { continue };
                let Some(job) = jobs.remove(&id) else { continue };
                if let Some((retry, delay)) = attempt(&setup, &mut conn, &mut last_sent, job).await {
                    due.push(Reverse((Instant::now() + delay, id)));
                    jobs.insert(id, retry);
                }
                // Nothing due soon: let the connection go rather than hold it.
                let soon = due.peek().is_some_and(|Reverse((at, _))| *at <= Instant::now());
                if !soon && let Some(open) = conn.take() {
                    open.quit(&setup.server).await;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One try at a job's mail. Returns the job to try again and how long to
/// wait first (the wait after it doubled), or `None` when it is done
/// (sent, not wanted, or given up).
async fn attempt(
    setup: &MailerSetup,
    conn: &mut Option<Connection>,
    last_sent: &mut HashMap<String, SystemTime>,
    mut job: Job,
) -> Option<(Job, Duration)> {
    let now = crate::now().unwrap_or_else(|_| SystemTime::now());
    let w = &job.waiting;
    let key = w.email.key();
    if last_sent
        .get(&key)
        .is_some_and(|at| now.duration_since(*at).unwrap_or_default() < setup.resend_after)
    {
        // Mailed a confirmation lately (perhaps for this very sign-up):
        // the reader has a link; another mail now would be a nuisance.
        return None;
    }
    let signed_up = std::time::UNIX_EPOCH + Duration::from_secs(u64::from(w.signed_up));
    let Some(token) = setup.tokens.confirm_token(&w.email, signed_up) else {
        eprintln!("no secret: no confirmation for {}", w.email);
        return None;
    };
    let link = format!("{}/confirm/{token}", setup.public_url);
    let bytes = match confirm::build(&setup.newsletter, &w.email, &link, now, setup.dkim.as_ref()) {
        Ok(bytes) => bytes,
        Err(e) => {
            give_up(setup, &job, &format!("not built: {e}"), now);
            return None;
        }
    };
    if conn.is_none() {
        *conn = setup.server.connect().await.ok();
    }
    let from = ascii_domain(&setup.newsletter.from.email).into_owned();
    let result = match conn.as_mut() {
        Some(open) => open
            .send(
                &setup.server,
                &from,
                &w.email.envelope(),
                async { Ok(bytes) },
                async { Ok(()) },
            )
            .await
            .map(|_| ())
            .map_err(|f| f.to_string()),
        None => Err(format!("cannot connect to {}", setup.server.describe())),
    };
    match result {
        Ok(()) => {
            last_sent.insert(key, now);
            if let Err(e) =
                outbox::record(&setup.list, &w.email, w.signed_up, Outcome::Sent, "", now)
            {
                eprintln!(
                    "{}: cannot be written: {e}",
                    outbox::path(&setup.list).display()
                );
            }
            None
        }
        Err(detail) => {
            *conn = None;
            if Instant::now() + job.wait > job.give_up_at {
                give_up(setup, &job, &detail, now);
                return None;
            }
            let delay = job.wait;
            job.wait = (delay * 2).min(LONGEST_WAIT);
            Some((job, delay))
        }
    }
}

/// Said once, on stderr and in the ledger (which `list` counts).
fn give_up(setup: &MailerSetup, job: &Job, detail: &str, now: SystemTime) {
    let w = &job.waiting;
    eprintln!(
        "confirmation to {} given up after {} min: {detail}",
        w.email,
        setup.retry_for.as_secs() / 60
    );
    if let Err(e) = outbox::record(
        &setup.list,
        &w.email,
        w.signed_up,
        Outcome::GaveUp,
        detail,
        now,
    ) {
        eprintln!(
            "{}: cannot be written: {e}",
            outbox::path(&setup.list).display()
        );
    }
}
