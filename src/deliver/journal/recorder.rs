//! Group commit: one thread owns the delivery log, writes the rows that
//! arrive together in one write, and syncs before it lets a message go.

use tokio::sync::oneshot;

use super::{Journal, LogRow};
use crate::deliver::Stop;

type Ack = Option<oneshot::Sender<Result<(), String>>>;

/// How long the writer waits for more rows before a sync, when several
/// workers share it. Measured with scripts/bench at 8 connections: about
/// 7,000 msg/s without it, 8,500-10,500 with 60-150 µs (150 µs hurt at 4
/// connections); with one worker it only adds latency, so it is off.
pub const GATHER: std::time::Duration = std::time::Duration::from_micros(60);

/// How long queued rows may wait unsynced when nothing asks for a sync.
const IDLE_SYNC: std::time::Duration = std::time::Duration::from_millis(50);

/// Group commit: one thread owns the journal and writes whatever rows
/// arrived together in one write. It syncs before acknowledging a
/// `record` (which gates a message's data) and after `IDLE_SYNC` without
/// one; `submit`ted outcome rows ride along with the next sync.
#[derive(Clone)]
pub struct Recorder {
    tx: std::sync::mpsc::Sender<(Vec<LogRow>, Ack)>,
}

impl Recorder {
    pub fn spawn(
        mut journal: Journal,
        gather: std::time::Duration,
    ) -> (Self, std::thread::JoinHandle<Result<Journal, String>>) {
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<LogRow>, Ack)>();
        let handle = std::thread::spawn(move || {
            use std::sync::mpsc::RecvTimeoutError;
            // After a failed write every later request fails too, so no
            // send can go ahead on a record that is not on disk.
            let mut failed: Option<String> = None;
            let mut unsynced = false;
            loop {
                let first = if unsynced {
                    match rx.recv_timeout(IDLE_SYNC) {
                        Ok(item) => item,
                        Err(RecvTimeoutError::Timeout) => {
                            if failed.is_none() {
                                failed = journal.sync().err().map(|e| e.to_string());
                            }
                            unsynced = false;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                } else {
                    match rx.recv() {
                        Ok(item) => item,
                        Err(_) => break,
                    }
                };
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let must_sync = batch.iter().any(|(_, ack)| ack.is_some());
                if must_sync && !gather.is_zero() {
                    // Other workers are about to ask too: one sync for all of
                    // them costs far less than one each, and the wait hides
                    // behind the envelope commands already on the wire.
                    std::thread::sleep(gather);
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                }
                if failed.is_none() {
                    let rows: Vec<LogRow> =
                        batch.iter().flat_map(|(r, _)| r.iter().cloned()).collect();
                    failed = journal.write(&rows).err().map(|e| e.to_string());
                    unsynced = true;
                    if must_sync && failed.is_none() {
                        failed = journal.sync().err().map(|e| e.to_string());
                        unsynced = false;
                    }
                }
                let result = failed.clone().map_or(Ok(()), Err);
                for ack in batch.into_iter().filter_map(|(_, ack)| ack) {
                    let _ = ack.send(result.clone());
                }
            }
            if failed.is_none() && unsynced {
                failed = journal.sync().err().map(|e| e.to_string());
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(journal),
            }
        });
        (Self { tx }, handle)
    }

    /// Queues rows without waiting; they are synced with the next `record`,
    /// within `IDLE_SYNC`, or when the writer thread is joined.
    pub fn submit(&self, rows: Vec<LogRow>) -> Result<(), Stop> {
        self.tx
            .send((rows, None))
            .map_err(|_| Stop::Journal("the log writer stopped".into()))
    }

    /// Queues rows now; the returned future resolves once they, and all
    /// rows queued before them, are on disk.
    pub fn record(
        &self,
        rows: Vec<LogRow>,
    ) -> Result<impl Future<Output = Result<(), String>> + use<>, Stop> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((rows, Some(ack)))
            .map_err(|_| Stop::Journal("the log writer stopped".into()))?;
        Ok(async move {
            done.await
                .map_err(|_| "the log writer stopped".to_owned())
                .and_then(|r| r)
        })
    }
}
