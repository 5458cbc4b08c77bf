//! Confirmation mail, and the welcome issue a confirmed sign-up gets,
//! sent by one task over one SMTP connection (opened when needed, kept
//! while mail keeps coming), so a burst of sign-ups is one session and a
//! slow relay never holds up a page.
//!
//! Logged like an issue (`audience::ledger`): a mail's `sending` row is
//! synced before its bytes go, then its outcome; a mail whose reply to the
//! final dot never came is `unknown` and is not sent again on its own, and
//! after a kill the next start reads a `sending` row left last the same
//! way. Every failure is judged by the one classifier (`deliver::policy`):
//! a transient one is tried again with back-off (1 s, doubling, at most
//! 5 min apart) for `confirm_retry_for`, then given up (said once on
//! stderr and in the ledger); a permanent one is `failed`, and the address
//! gets no more of our side mail for an hour; a refusal that says the
//! mailbox does not exist goes through the consent table as a bounce (via
//! the list's writer). An address gets at most one confirmation in
//! `confirm_resend_after`, however many sign-ups ask: nobody can
//! mail-bomb an address through us.
//!
//! A welcome is owed from the moment the writer queues it (before the list
//! says `subscribed`); it goes only to a reader still subscribed, filled
//! in from their details as they stand, and once per address ever.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::books::SharedBooks;
use super::writer::{ListWriter, Request as Change};
use crate::audience::ledger::{Kind, Outcome};
use crate::audience::outbox::Waiting;
use crate::audience::unsubscribe::Unsubscriber;
use crate::audience::welcome;
use crate::compose::confirm;
use crate::compose::dkim::Signer;
use crate::compose::message::{Recipient, Template};
use crate::compose::personal::FieldNames;
use crate::deliver::policy::{Verdict, classify};
use crate::deliver::refusal::Blame;
use crate::deliver::smtp::{Connection, Server};
use crate::input::config::Newsletter;
use crate::input::email::Email;
use crate::input::email::ascii_domain;

/// After a permanent refusal, an address gets none of our side mail for
/// this long.
pub const REFUSED_HOLD: Duration = Duration::from_secs(3600);

/// Sign-ups waiting for the mailer at most; past that a sign-up is told
/// to try again (its row is written; the next sign-up queues its mail).
pub const QUEUE: usize = 10_000;

/// Everything the mailer needs.
pub struct MailerSetup {
    pub newsletter: Newsletter,
    /// How long a confirm link lasts (the mail says so).
    pub expiry: Duration,
    pub server: Server,
    pub dkim: Option<Signer>,
    pub tokens: Arc<Unsubscriber>,
    pub public_url: String,
    pub list: PathBuf,
    pub resend_after: Duration,
    pub retry_for: Duration,
    /// `[serve] welcome`: the issue, ready to fill in.
    pub welcome: Option<Template>,
    pub books: SharedBooks,
    /// The relay's daily limit, shared with every send.
    pub quota: Option<crate::deliver::fleet::Quota>,
    /// The languages a confirmation can be written in.
    pub tongues: super::tongue::Tongues,
    /// The list's writer, for a bounce a refusal tells of.
    pub writer: ListWriter,
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
    pub fn start(setup: MailerSetup, outbox: Vec<Mail>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let welcomes = setup.welcome.is_some();
        tokio::spawn(run(Arc::new(setup), rx, outbox));
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

async fn run(setup: Arc<MailerSetup>, mut rx: mpsc::Receiver<Mail>, outbox: Vec<Mail>) {
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
                if let Some((retry, delay)) = attempt(&setup, &mut conn, job).await {
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

impl Mail {
    fn to(&self) -> &Email {
        match self {
            Mail::Confirm(w) => &w.email,
            Mail::Welcome(email) => email,
        }
    }

    /// Its ledger, and its key there (the sign-up's time for a
    /// confirmation, 0 for a welcome).
    fn entry(&self) -> (Kind, u32) {
        match self {
            Mail::Confirm(w) => (Kind::Confirmation, w.signed_up),
            Mail::Welcome(_) => (Kind::Welcome, 0),
        }
    }
}

/// One try at a job's mail. Returns the job to try again and how long to
/// wait first (the wait after it doubled), or `None` when it is done
/// (sent, `unknown`, refused, not wanted, or given up).
async fn attempt(
    setup: &MailerSetup,
    conn: &mut Option<Connection>,
    job: Job,
) -> Option<(Job, Duration)> {
    let now = crate::now().unwrap_or_else(|_| SystemTime::now());
    let made = match &job.mail {
        Mail::Confirm(w) => confirmation(setup, w, now),
        Mail::Welcome(email) => welcome_mail(setup, email, now).await,
    };
    let (from, bytes) = match made {
        Made::Nothing => return None,
        Made::Never(detail) => {
            give_up(setup, &job, &detail, now);
            return None;
        }
        Made::Later(detail) => return again(setup, job, &detail, now),
        Made::Send(from, bytes) => (from, bytes),
    };
    // Room in the relay's daily limit, taken before the mail goes; given
    // back unless the relay took it (or may have).
    if let Some(quota) = &setup.quota
        && let Err(room) = quota.take(crate::clock())
    {
        let wait = room
            .duration_since(crate::clock())
            .unwrap_or_default()
            .max(FIRST_WAIT);
        if Instant::now() + wait > job.give_up_at {
            give_up(setup, &job, "the relay's daily limit is used", now);
            return None;
        }
        return Some((job, wait));
    }
    let give_back = || {
        if let Some(quota) = &setup.quota {
            quota.give_back();
        }
    };
    if conn.is_none() {
        *conn = setup.server.connect().await.ok();
    }
    let Some(open) = conn.as_mut() else {
        give_back();
        let detail = format!("cannot connect to {}", setup.server.describe());
        return again(setup, job, &detail, now);
    };
    // On disk before the bytes can reach the relay: a kill from here on
    // leaves `sending`, read back as `unknown`, never sent twice.
    if let Err(e) = step(setup, &job.mail, Outcome::Sending, "", now) {
        eprintln!("{e}");
        give_back();
        return again(setup, job, &e, now);
    }
    let to = job.mail.to().clone();
    let result = open
        .send(
            &setup.server,
            &from,
            &to.envelope(),
            async { Ok(bytes) },
            async { Ok(()) },
        )
        .await;
    let verdict = match result {
        Ok(reply) => {
            if let Err(e) = step(setup, &job.mail, Outcome::Sent, &reply, now) {
                eprintln!("{e}");
            }
            return None;
        }
        Err(failure) => classify(failure, Some(from.as_ref())),
    };
    *conn = None;
    if !matches!(verdict, Verdict::Unknown { .. }) {
        give_back();
    }
    let (outcome, detail, blame) = match verdict {
        Verdict::Unknown { detail } => (Outcome::Unknown, detail, None),
        Verdict::Retry { detail, .. } | Verdict::Unreachable { detail } => {
            if let Err(e) = step(setup, &job.mail, Outcome::Retry, &detail, now) {
                eprintln!("{e}");
            }
            return again(setup, job, &detail, now);
        }
        Verdict::Refused { detail, blame, .. } => (Outcome::Failed, detail, Some(blame)),
        Verdict::Failed { detail, .. } | Verdict::Stop { detail, .. } => {
            (Outcome::Failed, detail, None)
        }
    };
    if let Err(e) = step(setup, &job.mail, outcome, &detail, now) {
        eprintln!("{e}");
    }
    match outcome {
        Outcome::Unknown => eprintln!(
            "{} to {to}: no reply to the end of the message ({detail}); it may have arrived, and is not sent again",
            what(&job.mail)
        ),
        _ => eprintln!("{} to {to} refused: {detail}", what(&job.mail)),
    }
    if blame == Some(Blame::Mailbox) {
        // The reader's own mailbox does not exist: a bounce, decided by
        // the one table like any other.
        let at = crate::audience::consent::secs(now);
        if let Err(e) = setup
            .writer
            .ask(Change::Bounce {
                email: to.clone(),
                at,
            })
            .await
        {
            eprintln!("{e}");
        }
    }
    None
}

fn what(mail: &Mail) -> &'static str {
    match mail {
        Mail::Confirm(_) => "confirmation",
        Mail::Welcome(_) => "welcome",
    }
}

/// Writes one step of the job's mail.
fn step(
    setup: &MailerSetup,
    mail: &Mail,
    outcome: Outcome,
    detail: &str,
    now: SystemTime,
) -> Result<(), String> {
    let (kind, signed_up) = mail.entry();
    setup
        .books
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(kind, mail.to(), signed_up, outcome, detail, now)
}

/// The job again after its back-off, or given up when that would pass
/// the time allowed.
fn again(
    setup: &MailerSetup,
    mut job: Job,
    detail: &str,
    now: SystemTime,
) -> Option<(Job, Duration)> {
    if Instant::now() + job.wait > job.give_up_at {
        give_up(setup, &job, detail, now);
        return None;
    }
    let delay = job.wait;
    job.wait = (delay * 2).min(LONGEST_WAIT);
    Some((job, delay))
}

/// A sign-up's confirmation, unless the address had one lately (sent, or
/// `unknown`: it may have arrived) or a refusal within the hour. (After a
/// restart only the sign-ups whose mail is not settled are queued:
/// `outbox::waiting`; a reader asking again is a new reason to mail.)
fn confirmation(setup: &MailerSetup, w: &Waiting, now: SystemTime) -> Made {
    let key = w.email.key();
    {
        let books = setup.books.lock().unwrap_or_else(|e| e.into_inner());
        let c = &books.confirmations;
        let within = |at: Option<&SystemTime>, span: Duration| {
            at.is_some_and(|at| now.duration_since(*at).unwrap_or_default() < span)
        };
        // Mailed a confirmation lately (perhaps for this very sign-up):
        // the reader has a link; another mail now would be a nuisance.
        if within(c.last_mailed.get(&key), setup.resend_after)
            || within(c.last_refused.get(&key), REFUSED_HOLD)
        {
            return Made::Nothing;
        }
    }
    let signed_up = std::time::UNIX_EPOCH + Duration::from_secs(u64::from(w.signed_up));
    let Some(token) = setup.tokens.confirm_token(&w.email, signed_up) else {
        eprintln!("no secret: no confirmation for {}", w.email);
        return Made::Nothing;
    };
    // In the sign-up's language; the link names it, so the confirm page
    // speaks it too.
    let said = setup.tongues.pick(
        w.lang.as_ref().map(crate::input::lang::Lang::as_str),
        &axum::http::HeaderMap::new(),
    );
    let link = match &w.lang {
        Some(_) => format!("{}/confirm/{token}?lang={}", setup.public_url, said.lang),
        None => format!("{}/confirm/{token}", setup.public_url),
    };
    match confirm::build(
        &setup.newsletter,
        &confirm::Said {
            lang: said.label,
            words: said.words,
        },
        &w.email,
        &link,
        setup.expiry,
        now,
        setup.dkim.as_ref(),
    ) {
        Ok(bytes) => Made::Send(
            ascii_domain(&setup.newsletter.from.email).into_owned(),
            bytes,
        ),
        Err(e) => Made::Never(format!("not built: {e}")),
    }
}

/// The welcome issue for `email`, filled in from their details as they
/// stand: only while they are subscribed, only while it is owed (never a
/// second time), and not within an hour of a refusal.
async fn welcome_mail(setup: &MailerSetup, email: &Email, now: SystemTime) -> Made {
    let Some(template) = &setup.welcome else {
        return Made::Nothing;
    };
    {
        let key = email.key();
        let books = setup.books.lock().unwrap_or_else(|e| e.into_inner());
        let w = &books.welcomes;
        let owed = matches!(w.outcome(&key, 0), Some(Outcome::Queued | Outcome::Retry));
        if w.reached.contains(&key) || !owed {
            return Made::Nothing;
        }
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
    // In the reader's language, when their row has one.
    let template = template.for_reader(reader.lang.as_ref());
    let values = match template.values_in(&FieldNames::new(&columns), to) {
        Ok(values) => values,
        Err(why) => return Made::Never(format!("fields not filled in: {why}")),
    };
    let id = template.message_id(&reader.email);
    let from = template.return_path(&reader.email, &id).into_owned();
    match template.build_filled(to, now, id, &values) {
        Ok(bytes) => Made::Send(from, bytes),
        Err(e) => Made::Never(e.to_string()),
    }
}

/// Said once, on stderr and in the ledger (which `list` counts).
fn give_up(setup: &MailerSetup, job: &Job, detail: &str, now: SystemTime) {
    let minutes = setup.retry_for.as_secs() / 60;
    eprintln!(
        "{} to {} given up after {minutes} min: {detail}",
        what(&job.mail),
        job.mail.to()
    );
    if let Err(e) = step(setup, &job.mail, Outcome::GaveUp, detail, now) {
        eprintln!("{e}");
    }
}
