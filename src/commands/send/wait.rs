//! Waiting for a scheduled time (`send --at`): by the run's clock
//! (`crate::clock`), with the time shown in UTC and in the editor's zone,
//! a countdown on a terminal, and Ctrl-C or a kill ending the wait with
//! nothing sent.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

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

/// Waits until `at`, saying so on stderr. Returns at once when `at` has
/// passed (the caller decided it is not too late).
pub async fn until(at: SystemTime, what: &str) -> anyhow::Result<()> {
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
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
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
            _ = tokio::signal::ctrl_c() => return Err(stopped(countdown, what)),
            _ = term.recv() => return Err(stopped(countdown, what)),
            _ = hangup.recv() => return Err(stopped(countdown, what)),
        }
    }
    if countdown {
        eprintln!("\r\x1b[K");
    }
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).map_err(|e| anyhow::anyhow!("cannot watch for signals: {e}"))
}

fn stopped(countdown: bool, what: &str) -> anyhow::Error {
    if countdown {
        eprintln!();
    }
    Interrupted(what.to_owned()).into()
}
