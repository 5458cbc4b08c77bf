//! The list under the server: one thread owns the changes. Requests that
//! arrive together are decided against the list as it is now (rows the
//! CLI appended or a rewrite included), written as rows in one append and
//! synced once, under the list's lock, and only then answered: group
//! commit, as the delivery log does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use std::sync::{Arc, Mutex};

use super::books::SharedBooks;
use crate::audience::consent::{self, Decision, Event, Standing, Why, decide};
use crate::audience::details::{Proposal, proposals};
use crate::audience::list_file::{self, Change, lock_exclusive};
use crate::audience::subscribers::{Snapshot, Status};
use crate::audience::watch::ListWatch;
use crate::input::checked::Line;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, Fingerprint, FingerprintMap};
use crate::input::lang::Lang;

/// What a reader asked for.
#[derive(Debug, Clone)]
pub enum Request {
    SignUp {
        email: Email,
        name: Option<Line>,
        /// The topics chosen on the form (canonical tags), if any.
        tags: Option<String>,
        /// The language of the pages it was made on (a proposal, like
        /// the rest of the form: written where the list has a `lang`
        /// column).
        lang: ReaderLang,
    },
    /// A confirm link's press: the sign-up it was made for (Unix seconds),
    /// and the details the confirm page submitted (the reader's own word:
    /// recorded in their `subscribed` row).
    Confirm {
        email: Email,
        signed_up: u32,
        name: Option<Line>,
        tags: Option<String>,
        /// The language chosen on the confirm page: the reader's from
        /// now on.
        lang: ReaderLang,
    },
    Unsubscribe {
        email: Email,
    },
    /// "Undo" on the page that said the reader is unsubscribed: back to
    /// subscribed while the unsubscribe made at `unsubscribed_at` is still
    /// their last change.
    Undo {
        email: Email,
        unsubscribed_at: u32,
    },
    /// Nothing to change: whether the address is subscribed now (what a
    /// stale confirm link's page says).
    Look {
        email: Email,
    },
    /// A relay refused side mail to this address because the mailbox does
    /// not exist, at `at` (Unix seconds).
    Bounce {
        email: Email,
        at: u32,
    },
}

/// A reader's language as a sign-up or confirmation gives it.
#[derive(Debug, Clone)]
pub struct ReaderLang {
    pub lang: Lang,
    /// Whether it is another than the newsletter's: a confirmation in it
    /// gives a list without a `lang` column the column.
    pub other: bool,
}

/// What the list says after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `pending` row was written at `at` (Unix seconds): send the
    /// confirmation for it.
    NowPending { at: u32 },
    /// A sign-up made at `at` is waiting already: no row, but its
    /// confirmation may go again.
    StillPending { at: u32 },
    /// Already subscribed, or bounced or complained: nothing written,
    /// nothing sent (the page says the same as for anyone).
    NothingToDo,
    /// A `subscribed` row was written.
    NowSubscribed,
    /// The confirm or undo link is not for the reader's live state (used,
    /// or overtaken by a later change): nothing changed. Whether the
    /// address is subscribed now.
    StaleLink { subscribed: bool },
    /// An `unsubscribed` row was written at `at` (Unix seconds); it may be
    /// undone (`undoable`) when the reader was being mailed before it,
    /// with no sign-up waiting: an undo never subscribes anyone who was
    /// not.
    NowUnsubscribed { at: u32, undoable: bool },
    /// Nothing to write: already unsubscribed, or never on the list.
    NotSubscribed,
    /// An undo wrote a `subscribed` row (no welcome: they read it before).
    Resubscribed,
    /// The answer to a `Look`.
    Standing { subscribed: bool },
    /// A `bounced` row was written.
    NowBounced,
}

type Reply = oneshot::Sender<Result<Outcome, String>>;

#[derive(Clone)]
pub struct ListWriter {
    tx: mpsc::SyncSender<(Request, Reply)>,
    proposals: Proposals,
}

/// The side-mail ledgers, when `[serve] welcome` is set: a confirmation
/// queues the address's welcome there before its `subscribed` row is
/// written, so the welcome is owed whatever stops after.
pub type Welcomes = Option<SharedBooks>;

/// What each live sign-up's form said (its `pending` row), for the
/// confirm page to show: never a reader's details until they confirm.
type Proposals = Arc<Mutex<FingerprintMap<Proposal>>>;

/// Requests waiting for the writer at most: past that, a request is
/// answered 503 at once rather than queued without end.
pub const QUEUE: usize = 10_000;

/// How long the writer waits for the list's lock (a CLI command holding
/// it, an editor's `--compact`): past that the batch is answered 503 and
/// nothing of it is written.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

impl ListWriter {
    /// Reads the list (giving it a `changed` column if it has none) and
    /// starts the thread. Returns how many readers it holds.
    pub fn start(
        path: &Path,
        expiry: Duration,
        welcomes: Welcomes,
    ) -> Result<(Self, usize), Diagnostic> {
        Self::start_with(path, expiry, QUEUE, welcomes)
    }

    /// The same with `queue` requests waiting at most.
    fn start_with(
        path: &Path,
        expiry: Duration,
        queue: usize,
        welcomes: Welcomes,
    ) -> Result<(Self, usize), Diagnostic> {
        let cannot =
            |e: std::io::Error| Diagnostic::new(path, None, format!("cannot be read: {e}"));
        let lock = lock_exclusive(path).map_err(cannot)?;
        if list_file::ensure_changed_column(path, &lock)? {
            eprintln!(
                "{}: added the `status` and `changed` columns, which sign-ups need",
                path.display()
            );
        }
        let watch = ListWatch::load(path, &lock)?;
        let proposals = Arc::new(Mutex::new(proposals(&Snapshot::take_locked(path, &lock)?)?));
        drop(lock);
        let readers = watch.readers();
        let (tx, rx) = mpsc::sync_channel(queue);
        let path = path.to_path_buf();
        let shared = proposals.clone();
        std::thread::spawn(move || run(path, watch, expiry, welcomes, shared, rx));
        Ok((Self { tx, proposals }, readers))
    }

    /// What the form of the sign-up made at `signed_up` said, while it is
    /// the address's latest.
    pub fn proposal(&self, email: &Email, signed_up: u32) -> Option<Proposal> {
        self.proposals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&email.fingerprint())
            .filter(|p| p.at == signed_up)
            .cloned()
    }

    pub async fn ask(&self, request: Request) -> Result<Outcome, String> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send((request, reply)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => "the list writer is busy (its queue is full)".to_owned(),
            mpsc::TrySendError::Disconnected(_) => "the list writer stopped".to_owned(),
        })?;
        answer
            .await
            .map_err(|_| "the list writer stopped".to_owned())?
    }
}

fn run(
    path: PathBuf,
    mut watch: ListWatch,
    expiry: Duration,
    welcomes: Welcomes,
    proposals: Proposals,
    rx: mpsc::Receiver<(Request, Reply)>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        // A look changes nothing: answered from the list as last read,
        // without its lock (a CLI command holding it does not make a
        // confirm page wait). What it answers only picks a page to show.
        let (looks, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|(r, _)| matches!(r, Request::Look { .. }));
        for (request, reply) in looks {
            if let Request::Look { email } = request {
                let subscribed = watch
                    .standing(email.fingerprint())
                    .is_some_and(|s| s.mailed());
                let _ = reply.send(Ok(Outcome::Standing { subscribed }));
            }
        }
        if batch.is_empty() {
            continue;
        }
        match apply(&path, &mut watch, expiry, &welcomes, &proposals, &batch) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                eprintln!("{e}");
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// Decides each request against the list as it is (`audience::consent`,
/// the one table), then writes the rows.
fn apply(
    path: &Path,
    watch: &mut ListWatch,
    expiry: Duration,
    welcomes: &Welcomes,
    proposals: &Proposals,
    batch: &[(Request, Reply)],
) -> Result<Vec<Outcome>, Diagnostic> {
    let cannot = |e: std::io::Error| Diagnostic::new(path, None, format!("cannot be written: {e}"));
    let lock = list_file::lock_exclusive_within(path, LOCK_WAIT).map_err(cannot)?;
    watch.refresh(&lock)?;
    // One time for the batch, to the second: the rows carry it and the
    // confirm links seal it, so a link names its own sign-up.
    let time = crate::now().unwrap_or_else(|_| SystemTime::now());
    let at = consent::secs(time);
    let time = UNIX_EPOCH + Duration::from_secs(u64::from(at));
    let renew_before = at.saturating_sub(u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX));
    // Earlier requests of the same batch count for later ones.
    let mut now: HashMap<Fingerprint, Standing> = HashMap::new();
    let mut changes = Vec::new();
    let mut proposed = Vec::new();
    // Confirmed sign-ups: their welcome is owed.
    let mut welcome: Vec<Email> = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (request, _) in batch {
        let (email, event) = match request {
            Request::SignUp { email, .. } => (email, Event::SignUp { renew_before }),
            Request::Confirm {
                email, signed_up, ..
            } => (
                email,
                Event::Confirm {
                    signed_up: *signed_up,
                },
            ),
            Request::Unsubscribe { email } => (email, Event::Unsubscribe),
            Request::Undo {
                email,
                unsubscribed_at,
            } => (
                email,
                Event::Undo {
                    unsubscribed_at: *unsubscribed_at,
                },
            ),
            Request::Bounce { email, at } => (email, Event::Bounce { at: *at }),
            Request::Look { email } => {
                let key = email.fingerprint();
                let standing = now.get(&key).copied().or_else(|| watch.standing(key));
                outcomes.push(Outcome::Standing {
                    subscribed: standing.is_some_and(|s| s.mailed()),
                });
                continue;
            }
        };
        let key = email.fingerprint();
        let standing = now.get(&key).copied().or_else(|| watch.standing(key));
        // A refusal of mail `serve` sent for the reader as they stand (a
        // sign-up's confirmation, a confirmed reader's welcome) is about
        // that standing, even within the second it was made.
        let event = match (event, standing) {
            (Event::Bounce { at }, Some(s)) => Event::Bounce {
                at: at.max(s.changed.max(s.pending).saturating_add(1)),
            },
            (event, _) => event,
        };
        let outcome = match decide(standing.as_ref(), event) {
            Decision::Write(status) => {
                // A sign-up's time is later than anything the address had,
                // so its link (which seals the time) names it alone, even
                // within the same second as an earlier one.
                let row_at = match (status, standing) {
                    (Status::Pending, Some(s)) => {
                        at.max(s.changed.max(s.pending).saturating_add(1))
                    }
                    _ => at,
                };
                let mut next = standing.unwrap_or(Standing::new(status, row_at));
                next.fold(status, row_at, true);
                now.insert(key, next);
                // A sign-up's row holds what its form said (a proposal for
                // the confirm page, no detail); a confirmation's, what the
                // reader confirmed.
                let (name, tags, lang) = match request {
                    Request::SignUp {
                        name, tags, lang, ..
                    } if status == Status::Pending => {
                        proposed.push((
                            key,
                            Proposal {
                                at: row_at,
                                name: name.clone(),
                                tags: tags.clone().unwrap_or_default(),
                            },
                        ));
                        (name.clone(), tags.clone(), Some(lang.clone()))
                    }
                    Request::Confirm {
                        name, tags, lang, ..
                    } if status == Status::Subscribed => {
                        welcome.push(email.clone());
                        (name.clone(), tags.clone(), Some(lang.clone()))
                    }
                    _ => (None, None, None),
                };
                changes.push(Change {
                    email: email.clone(),
                    name,
                    status,
                    at: (row_at != at).then(|| UNIX_EPOCH + Duration::from_secs(u64::from(row_at))),
                    tags,
                    lang: lang.as_ref().map(|l| l.lang.clone()),
                    adds_lang_column: lang.is_some_and(|l| l.other),
                });
                match (status, request) {
                    (Status::Pending, _) => Outcome::NowPending { at: row_at },
                    (Status::Subscribed, Request::Undo { .. }) => Outcome::Resubscribed,
                    (Status::Subscribed, _) => Outcome::NowSubscribed,
                    (Status::Bounced, _) => Outcome::NowBounced,
                    _ => Outcome::NowUnsubscribed {
                        at: row_at,
                        undoable: standing.is_some_and(|s| s.mailed() && !s.signing_up()),
                    },
                }
            }
            Decision::Keep(why) => match (request, why) {
                (Request::SignUp { .. }, Why::StillPending) => Outcome::StillPending {
                    at: standing.map_or(at, |s| s.pending),
                },
                (Request::SignUp { .. }, _) => Outcome::NothingToDo,
                (Request::Confirm { .. } | Request::Undo { .. }, _) => Outcome::StaleLink {
                    subscribed: standing.is_some_and(|s| s.mailed()),
                },
                (
                    Request::Unsubscribe { .. } | Request::Bounce { .. } | Request::Look { .. },
                    _,
                ) => Outcome::NotSubscribed,
            },
        };
        outcomes.push(outcome);
    }
    if let Some(books) = welcomes {
        let mut books = books.lock().unwrap_or_else(|e| e.into_inner());
        for email in &welcome {
            books
                .queue_welcome(email, time)
                .map_err(|e| Diagnostic::new(path, None, e))?;
        }
    }
    if !changes.is_empty() {
        list_file::record(path, &lock, &changes, time)?;
        watch.refresh(&lock)?;
    }
    let mut proposals = proposals.lock().unwrap_or_else(|e| e.into_inner());
    for (key, proposal) in proposed {
        proposals.insert(key, proposal);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood past the queue's bound is refused at once, not queued; the
    /// requests that were queued are all recorded once the list is free,
    /// and none that was refused is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_and_loses_no_queued_change() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("list.csv");
        let mut list = String::from("email,name,status,changed\n");
        for i in 0..50 {
            list.push_str(&format!("r{i}@example.org,,subscribed,\n"));
        }
        std::fs::write(&path, list).expect("write");
        let (writer, _) =
            ListWriter::start_with(&path, Duration::from_secs(3600), 4, None).expect("start");
        // A CLI command holds the lock: the writer's first batch waits.
        let held = lock_exclusive(&path).expect("lock");
        let asks: Vec<_> = (0..50)
            .map(|i| {
                let writer = writer.clone();
                let email = Email::parse(&format!("r{i}@example.org")).expect("email");
                tokio::spawn(async move { (i, writer.ask(Request::Unsubscribe { email }).await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(held);
        let mut recorded = Vec::new();
        let mut refused = 0;
        for ask in asks {
            match ask.await.expect("task") {
                (i, Ok(Outcome::NowUnsubscribed { .. })) => recorded.push(i),
                (_, Ok(other)) => panic!("{other:?}"),
                (_, Err(e)) => {
                    assert!(e.contains("busy"), "{e}");
                    refused += 1;
                }
            }
        }
        assert!(refused > 0, "nothing was refused: the queue grew");
        assert_eq!(recorded.len() + refused, 50);
        let text = std::fs::read_to_string(&path).expect("list");
        for i in 0..50 {
            let row = format!("r{i}@example.org,,unsubscribed,");
            assert_eq!(text.contains(&row), recorded.contains(&i), "r{i}");
        }
    }
}
