//! The relays of a send as the config gives them, each with its quota in
//! the book every sender shares; and what a run says of the quotas.

use std::path::Path;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::deliver::fleet::{self, DAY, Quota, Relay};
use crate::deliver::quota::Book;
use crate::deliver::smtp::Server;
use crate::input::config::Config;

/// The window a daily limit counts over: a day. Only the tests shorten it
/// (`BULLETIN_QUOTA_WINDOW_SECS`), to see `--wait` through in seconds.
pub fn window() -> Duration {
    std::env::var("BULLETIN_QUOTA_WINDOW_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DAY, Duration::from_secs)
}

/// The quota of the config's relay `r`: its limit on this day of its
/// warm-up, counted in the book every sender shares (`deliver::quota`).
/// A relay the book has not met yet is entered from what the delivery
/// logs beside the config (and `log`, when kept elsewhere) say it sent.
pub fn quota(
    config: &Config,
    r: &crate::input::config::Relay,
    book: &std::sync::Arc<Book>,
    log: Option<&Path>,
    now: SystemTime,
) -> Quota {
    let window = window();
    let limited = r.daily_limit.is_some() || !r.warmup.is_empty();
    if !limited {
        return Quota::new(&r.name, None, window, None);
    }
    let seed = |name: &str| {
        let logs = crate::deliver::journal::every_log(config, log);
        let usage = fleet::usage(&logs, now - window, &[name.to_owned()]);
        (
            usage.sends.get(name).cloned().unwrap_or_default(),
            usage.first.get(name).copied(),
        )
    };
    let first = book.first(&r.name, now, &seed).unwrap_or_else(|e| {
        eprintln!("{}: the quota book cannot be read: {e}", r.name);
        None
    });
    // Warm-up days count from the relay's first send.
    let day = first.map_or(0, |first| {
        now.duration_since(first).unwrap_or_default().as_secs() / window.as_secs().max(1)
    });
    Quota::new(&r.name, r.limit_on(day), window, Some(book.clone()))
}

/// Every relay of the config, ready to send, each with its quota.
pub fn relays(config: &Config, log: &Path, now: SystemTime) -> anyhow::Result<Vec<Relay>> {
    let book = std::sync::Arc::new(Book::beside(&config.path));
    let mut out = Vec::new();
    for r in &config.relays {
        let password = std::env::var(&r.smtp.password_env)
            .ok()
            .map(SecretString::from);
        let server = Server::new(&r.smtp, password, &config.newsletter.from.email)?;
        out.push(Relay::new(
            r.name.clone(),
            server,
            r.weight,
            r.concurrency.unwrap_or(config.sending.concurrency),
            r.rate.unwrap_or(0.0),
            config.sending.breaker,
            quota(config, r, &book, Some(log), now),
        ));
    }
    Ok(out)
}

/// After a run that left readers waiting: one line a relay whose quota
/// is used up ("ses: 100 in 24 h used; capacity from 14:05 UTC"), then how
/// many wait. Nothing when no quota stopped the run.
pub fn report_quotas(relays: &[Relay], waiting: u64) {
    // The run is over: room taken ahead and not used goes back (the send
    // gave it back already; a second time changes nothing).
    for r in relays {
        r.quota.release();
    }
    let now = crate::clock();
    let full: Vec<&Relay> = relays
        .iter()
        .filter(|r| r.quota.left(now) == Some(0))
        .collect();
    if full.is_empty() || waiting == 0 || full.len() < relays.len() {
        return;
    }
    let hours = window().as_secs() / 3600;
    let span = if hours > 0 {
        format!("{hours} h")
    } else {
        format!("{} s", window().as_secs())
    };
    for r in &full {
        let from = r.quota.room_from(now).map_or_else(String::new, |t| {
            format!("; capacity from {}", fleet::clock_time(t, now))
        });
        println!(
            "  {}: {} in {span} used; {waiting} readers wait{from}",
            r.name,
            r.quota.used(now)
        );
    }
    let first = full.iter().filter_map(|r| r.quota.room_from(now)).min();
    println!(
        "  quota:        every relay's daily limit is used; the {waiting} readers left stay due{}. Run again then, or send with --wait",
        first.map_or_else(String::new, |t| format!(
            " (room again from {})",
            fleet::clock_time(t, now)
        ))
    );
}
