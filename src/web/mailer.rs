//! Confirmation mail, and the welcome issue a confirmed sign-up gets,
//! sent by one task over one SMTP connection (opened when needed, kept
//! while mail keeps coming), so a burst of sign-ups is one session and a
//! slow relay never holds up a page.
//!
//! Durable: the outbox is the list's live `pending` rows
//! (`audience::outbox`), so a restart mails what was not mailed. A mail
//! that fails is tried again with back-off (1 s, doubling, at most 5 min
//! apart) for `confirm_retry_for` from when it was queued; then it is
//! given up, said once on stderr and in the outbox's ledger. An address
//! gets at most one confirmation in `confirm_resend_after`, however many
//! sign-ups ask for one: nobody can mail-bomb an address through us.
//!
//! A welcome is owed from the moment the writer queues it in
//! `logs/welcome.csv` (`audience::welcome`, before the list says
//! `subscribed`); it goes with the same back-off, only to a reader still
//! subscribed, filled in from what they gave at sign-up, and once per
//! address ever.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::audience::outbox::{self, Outcome, Waiting};
use crate::audience::unsubscribe::Unsubscriber;
use crate::audience::welcome;
use crate::compose::confirm;
use crate::compose::dkim::Signer;
use crate::compose::message::{Recipient, Template};
use crate::compose::personal::FieldNames;
use crate::deliver::smtp::{Connection, Server};
use crate::input::config::Newsletter;
use crate::input::email::Email;
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
    /// `[serve] welcome`: the issue, ready to fill in, and its ledger.
    pub welcome: Option<Welcome>,
}

/// The welcome issue and who had it.
pub struct Welcome {
    pub template: Template,
    pub ledger: Arc<std::sync::Mutex<welcome::Ledger>>,
}

/// One mail the task sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// A sign-up's confirmation.
    Confirm(Waiting),
    /// The welcome issue, to a reader who confirmed.
    Welcome(Email),
}

#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Mail>,
    /// Whether there is a welcome issue to send.
    welcomes: bool,
}

impl Mailer {
    /// Starts the task with the mail still owed: sign-ups the list says
    /// want their confirmation, welcomes the ledger says are queued.
    pub fn start(setup: MailerSetup, outbox: Vec<Mail>, ledger: outbox::Ledger) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let welcomes = setup.welcome.is_some();
        tokio::spawn(run(Arc::new(setup), rx, outbox, ledger.last_sent));
        Self { tx, welcomes }
    }

    /// Queues a sign-up's mail; `false` when the queue is full.
    pub fn send(&self, waiting: Waiting) -> bool {
        self.tx.try_send(Mail::Confirm(waiting)).is_ok()
    }

    /// Queues a welcome (already owed in the ledger, so a full queue
    /// loses nothing: the next start mails it).
    pub fn welcome(&self, email: Email) -> bool {
        self.welcomes && self.tx.try_send(Mail::Welcome(email)).is_ok()
    }
}

/// A mail being tried.
struct Job {
    mail: Mail,
    give_up_at: Instant,
    wait: Duration,
}

const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(300);

async fn run(
    setup: Arc<MailerSetup>,
    mut rx: mpsc::Receiver<Mail>,
    outbox: Vec<Mail>,
    mut last_sent: HashMap<String, SystemTime>,
) {
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut jobs: HashMap<u64, Job> = HashMap::new();
    let mut next_id = 0u64;
    let mut conn: Option<Connection> = None;
    let mut queue = |jobs: &mut HashMap<u64, Job>, due: &mut BinaryHeap<_>, w: Mail| {
        // One mail a sign-up, whoever asks how often.
        if jobs.values().any(|j| j.mail == w) {
            return;
        }
        next_id += 1;
        let now = Instant::now();
        due.push(Reverse((now, next_id)));
        jobs.insert(
            next_id,
            Job {
                mail: w,
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

/// What a job's mail is, once made.
enum Made {
    /// Bytes to send, from this envelope sender.
    Send(lettre::Address, Vec<u8>),
    /// Nothing to send (not wanted now, or already done).
    Nothing,
    /// Cannot be made now; try again later.
    Later(String),
    /// Can never be made: given up.
    Never(String),
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
    let made = match &job.mail {
        Mail::Confirm(w) => confirmation(setup, last_sent, w, now),
        Mail::Welcome(email) => welcome_mail(setup, email, now).await,
    };
    let result = match made {
        Made::Nothing => return None,
        Made::Never(detail) => {
            give_up(setup, &job, &detail, now);
            return None;
        }
        Made::Later(detail) => Err(detail),
        Made::Send(from, bytes) => {
            if conn.is_none() {
                *conn = setup.server.connect().await.ok();
            }
            let to = match &job.mail {
                Mail::Confirm(w) => &w.email,
                Mail::Welcome(email) => email,
            };
            match conn.as_mut() {
                Some(open) => open
                    .send(
                        &setup.server,
                        &from,
                        &to.envelope(),
                        async { Ok(bytes) },
                        async { Ok(()) },
                    )
                    .await
                    .map(|_| ())
                    .map_err(|f| f.to_string()),
                None => Err(format!("cannot connect to {}", setup.server.describe())),
            }
        }
    };
    match result {
        Ok(()) => {
            sent(setup, last_sent, &job.mail, now);
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

/// A sign-up's confirmation, unless the address had one lately.
fn confirmation(
    setup: &MailerSetup,
    last_sent: &HashMap<String, SystemTime>,
    w: &Waiting,
    now: SystemTime,
) -> Made {
    if last_sent
        .get(&w.email.key())
        .is_some_and(|at| now.duration_since(*at).unwrap_or_default() < setup.resend_after)
    {
        // Mailed a confirmation lately (perhaps for this very sign-up):
        // the reader has a link; another mail now would be a nuisance.
        return Made::Nothing;
    }
    let signed_up = std::time::UNIX_EPOCH + Duration::from_secs(u64::from(w.signed_up));
    let Some(token) = setup.tokens.confirm_token(&w.email, signed_up) else {
        eprintln!("no secret: no confirmation for {}", w.email);
        return Made::Nothing;
    };
    let link = format!("{}/confirm/{token}", setup.public_url);
    match confirm::build(&setup.newsletter, &w.email, &link, now, setup.dkim.as_ref()) {
        Ok(bytes) => Made::Send(
            ascii_domain(&setup.newsletter.from.email).into_owned(),
            bytes,
        ),
        Err(e) => Made::Never(format!("not built: {e}")),
    }
}

/// The welcome issue for `email`, filled in from their sign-up row: only
/// while they are subscribed, and never a second time.
async fn welcome_mail(setup: &MailerSetup, email: &Email, now: SystemTime) -> Made {
    let Some(welcome) = &setup.welcome else {
        return Made::Nothing;
    };
    let done = |ledger: &welcome::Ledger| ledger.sent.contains(&email.key());
    if done(&welcome.ledger.lock().unwrap_or_else(|e| e.into_inner())) {
        return Made::Nothing;
    }
    // The list is read off the runtime's threads: it may be large.
    let (list, who) = (setup.list.clone(), email.clone());
    let (reader, columns) =
        match tokio::task::spawn_blocking(move || welcome::reader(&list, &who)).await {
            Ok(Ok(Some(found))) => found,
            // Not subscribed now (left again): no welcome; it stays owed in
            // the ledger, for a later confirmation.
            Ok(Ok(None)) => return Made::Nothing,
            Ok(Err(d)) => return Made::Later(d.to_string()),
            Err(e) => return Made::Later(e.to_string()),
        };
    let to = Recipient {
        email: &reader.email,
        name: reader.name.as_ref(),
        row: reader.row.as_ref(),
    };
    let t = &welcome.template;
    let values = match t.values_in(&FieldNames::new(&columns), to) {
        Ok(values) => values,
        Err(why) => return Made::Never(format!("fields not filled in: {why}")),
    };
    let id = t.message_id(&reader.email);
    let from = t.return_path(&reader.email, &id).into_owned();
    match t.build_filled(to, now, id, &values) {
        Ok(bytes) => Made::Send(from, bytes),
        Err(e) => Made::Never(e.to_string()),
    }
}

/// Noted where each kind of mail is remembered.
fn sent(
    setup: &MailerSetup,
    last_sent: &mut HashMap<String, SystemTime>,
    mail: &Mail,
    now: SystemTime,
) {
    let written = match mail {
        Mail::Confirm(w) => {
            last_sent.insert(w.email.key(), now);
            outbox::record(&setup.list, &w.email, w.signed_up, Outcome::Sent, "", now).map_err(
                |e| {
                    format!(
                        "{}: cannot be written: {e}",
                        outbox::path(&setup.list).display()
                    )
                },
            )
        }
        Mail::Welcome(email) => welcomed(setup, email, welcome::Outcome::Sent, "", now),
    };
    if let Err(e) = written {
        eprintln!("{e}");
    }
}

fn welcomed(
    setup: &MailerSetup,
    email: &Email,
    outcome: welcome::Outcome,
    detail: &str,
    now: SystemTime,
) -> Result<(), String> {
    let Some(welcome) = &setup.welcome else {
        return Ok(());
    };
    let mut ledger = welcome.ledger.lock().unwrap_or_else(|e| e.into_inner());
    ledger
        .record(email, outcome, detail, now)
        .map_err(|e| format!("{}: cannot be written: {e}", ledger.path.display()))
}

/// Said once, on stderr and in the ledger (which `list` counts).
fn give_up(setup: &MailerSetup, job: &Job, detail: &str, now: SystemTime) {
    let minutes = setup.retry_for.as_secs() / 60;
    let written = match &job.mail {
        Mail::Confirm(w) => {
            eprintln!(
                "confirmation to {} given up after {minutes} min: {detail}",
                w.email
            );
            outbox::record(
                &setup.list,
                &w.email,
                w.signed_up,
                Outcome::GaveUp,
                detail,
                now,
            )
            .map_err(|e| {
                format!(
                    "{}: cannot be written: {e}",
                    outbox::path(&setup.list).display()
                )
            })
        }
        Mail::Welcome(email) => {
            eprintln!("welcome to {email} given up after {minutes} min: {detail}");
            welcomed(setup, email, welcome::Outcome::GaveUp, detail, now)
        }
    };
    if let Err(e) = written {
        eprintln!("{e}");
    }
}
