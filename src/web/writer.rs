//! The list under the server: one thread owns the changes. Requests that
//! arrive together are decided against the list as it is now (rows the
//! CLI appended or a rewrite included), written as rows in one append and
//! synced once, under the list's lock, and only then answered: group
//! commit, as the delivery log does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::audience::list_file::{self, Change, lock_exclusive};
use crate::audience::subscribers::Status;
use crate::audience::watch::ListWatch;
use crate::input::checked::Line;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, Fingerprint};

/// What a reader asked for.
#[derive(Debug, Clone)]
pub enum Request {
    SignUp { email: Email, name: Option<Line> },
    Confirm { email: Email },
    Unsubscribe { email: Email },
}

/// What the list says after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `pending` row was written: send the confirmation.
    NowPending,
    /// Already pending: no row, but the confirmation goes again.
    StillPending,
    /// Already subscribed: nothing written, nothing sent.
    AlreadySubscribed,
    /// A `subscribed` row was written.
    NowSubscribed,
    /// An `unsubscribed` row was written.
    NowUnsubscribed,
    /// Nothing to write: already unsubscribed, or never on the list.
    NotSubscribed,
}

type Reply = oneshot::Sender<Result<Outcome, String>>;

#[derive(Clone)]
pub struct ListWriter {
    tx: mpsc::Sender<(Request, Reply)>,
}

impl ListWriter {
    /// Reads the list (giving it a `changed` column if it has none) and
    /// starts the thread. Returns how many readers it holds.
    pub fn start(path: &Path) -> Result<(Self, usize), Diagnostic> {
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
        drop(lock);
        let readers = watch.readers();
        let (tx, rx) = mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || run(path, watch, rx));
        Ok((Self { tx }, readers))
    }

    pub async fn ask(&self, request: Request) -> Result<Outcome, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((request, reply))
            .map_err(|_| "the list writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the list writer stopped".to_owned())?
    }
}

fn run(path: PathBuf, mut watch: ListWatch, rx: mpsc::Receiver<(Request, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        match apply(&path, &mut watch, &batch) {
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

/// Decides each request against the list as it is, then writes the rows.
fn apply(
    path: &Path,
    watch: &mut ListWatch,
    batch: &[(Request, Reply)],
) -> Result<Vec<Outcome>, Diagnostic> {
    let cannot = |e: std::io::Error| Diagnostic::new(path, None, format!("cannot be written: {e}"));
    let lock = lock_exclusive(path).map_err(cannot)?;
    watch.refresh(&lock)?;
    // Earlier requests of the same batch count for later ones.
    let mut now: HashMap<Fingerprint, Status> = HashMap::new();
    let mut changes = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (request, _) in batch {
        let email = match request {
            Request::SignUp { email, .. }
            | Request::Confirm { email }
            | Request::Unsubscribe { email } => email,
        };
        let key = email.fingerprint();
        let status = now.get(&key).copied().or_else(|| watch.status(key));
        let (outcome, new) = match (request, status) {
            (Request::SignUp { .. }, Some(Status::Subscribed)) => {
                (Outcome::AlreadySubscribed, None)
            }
            (Request::SignUp { .. }, Some(Status::Pending)) => (Outcome::StillPending, None),
            (Request::SignUp { .. }, _) => (Outcome::NowPending, Some(Status::Pending)),
            (Request::Confirm { .. }, Some(Status::Subscribed)) => {
                (Outcome::AlreadySubscribed, None)
            }
            (Request::Confirm { .. }, _) => (Outcome::NowSubscribed, Some(Status::Subscribed)),
            (Request::Unsubscribe { .. }, Some(Status::Subscribed | Status::Pending)) => {
                (Outcome::NowUnsubscribed, Some(Status::Unsubscribed))
            }
            (Request::Unsubscribe { .. }, _) => (Outcome::NotSubscribed, None),
        };
        if let Some(status) = new {
            now.insert(key, status);
            let name = match request {
                Request::SignUp { name, .. } => name.clone(),
                _ => None,
            };
            changes.push(Change {
                email: email.clone(),
                name,
                status,
            });
        }
        outcomes.push(outcome);
    }
    if !changes.is_empty() {
        list_file::record(
            path,
            &lock,
            &changes,
            crate::now().unwrap_or_else(|_| SystemTime::now()),
        )?;
        watch.refresh(&lock)?;
    }
    Ok(outcomes)
}
