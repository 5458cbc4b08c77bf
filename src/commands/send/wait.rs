//! Waiting for a scheduled time (`send --at`): by the run's clock
//! (`crate::clock`), with the time shown in UTC and in the editor's zone,
//! a countdown on a terminal, and Ctrl-C or a kill ending the wait with
//! nothing sent (and, once sending, the run, as unwatched).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::signal::unix::SignalKind;

use crate::input::when::{Zone, span, utc};

/// The wait was ended by a signal: nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("not sent: stopped while waiting for {0}; nothing was sent")]
pub struct Interrupted(String);

/// "2026-12-09 08:00 CET (2026-12-09 07:00:00 UTC)", or UTC alone.
pub fn shown(at: SystemTime, zone: Option<&Zone>) -> String {
    match zone {
        Some(z) if z.name() != "UTC" => format!("{} ({})", z.show(at), utc(at)),
        _ => utc(at),
    }
}

/// Ctrl-C and `kill` for a scheduled run, watched from its start to its
/// end. While the run waits, a signal ends the wait (nothing sent, said
/// so); while it delivers, the process stops as it would unwatched (the
/// log keeps what was sent; a re-run resumes). Tokio's handlers replace
/// the default action for the life of the process, hence one watcher for
/// the whole run rather than one per wait. A hangup is not watched: its
/// default action ends a wait with nothing sent, and under `nohup` it is
/// ignored, as asked.
pub struct Signals {
    waiting: Arc<AtomicBool>,
    caught: tokio::sync::watch::Receiver<Option<i32>>,
}

impl Signals {
    /// Starts watching; call on the runtime the run goes on.
    pub fn watch() -> anyhow::Result<Signals> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let waiting = Arc::new(AtomicBool::new(false));
        let (tell, caught) = tokio::sync::watch::channel(None);
        let during_wait = waiting.clone();
        tokio::spawn(async move {
            loop {
                let number = tokio::select! {
                    _ = interrupt.recv() => 2,
                    _ = terminate.recv() => 15,
                };
                if !during_wait.load(Ordering::SeqCst) {
                    eprintln!(
                        "\nstopped by a signal while sending: the delivery log keeps what was \
                         sent; run `bulletin send` again to resume"
                    );
                    std::process::exit(128 + number);
                }
                let _ = tell.send(Some(number));
            }
        });
        Ok(Signals { waiting, caught })
    }
}

/// Waits until `at`, saying so on stderr. Returns at once when `at` has
/// passed (the caller decided it is not too late).
pub async fn until(at: SystemTime, what: &str, signals: &mut Signals) -> anyhow::Result<()> {
    let now = crate::clock();
    match at.duration_since(now) {
        Err(late) => {
            if late.duration() >= Duration::from_secs(1) {
                eprintln!(
                    "{what} was due {} ago (within --late): sending now",
                    span(late.duration())
                );
            }
            return Ok(());
        }
        Ok(left) if left < Duration::from_millis(50) => return Ok(()),
        Ok(left) => eprintln!("Waiting to send at {what}: in {}", span(left)),
    }
    let countdown = std::io::stderr().is_terminal();
    signals.waiting.store(true, Ordering::SeqCst);
    let waited = wait(at, what, countdown, &mut signals.caught).await;
    signals.waiting.store(false, Ordering::SeqCst);
    // A signal caught just as the wait ended still stops the run.
    if waited.is_ok() && signals.caught.borrow().is_some() {
        return Err(stopped(countdown, what));
    }
    waited
}

async fn wait(
    at: SystemTime,
    what: &str,
    countdown: bool,
    caught: &mut tokio::sync::watch::Receiver<Option<i32>>,
) -> anyhow::Result<()> {
    loop {
        let now = crate::clock();
        let Ok(left) = at.duration_since(now) else {
            break;
        };
        if left.is_zero() {
            break;
        }
        if countdown {
            eprint!("\r\x1b[K{} to go (Ctrl-C cancels)", span(left));
            let _ = std::io::stderr().flush();
        }
        // A second at a time on a terminal, for the countdown; else a
        // minute, so a clock put right meanwhile is followed.
        let step = left.min(if countdown {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(60)
        });
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            _ = caught.changed() => return Err(stopped(countdown, what)),
        }
    }
    if countdown {
        eprintln!("\r\x1b[K");
    }
    Ok(())
}

fn signal(kind: SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).map_err(|e| anyhow::anyhow!("cannot watch for signals: {e}"))
}

fn stopped(countdown: bool, what: &str) -> anyhow::Error {
    if countdown {
        eprintln!();
    }
    Interrupted(what.to_owned()).into()
}
