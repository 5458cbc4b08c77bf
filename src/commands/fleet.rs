//! The relays of a send as the config gives them, each with its quota as
//! every delivery log has used it; and what a run says of the quotas.

use std::path::Path;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::deliver::fleet::{self, DAY, Quota, Relay};
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

/// Every relay of the config, ready to send, its quota counted at `now`
/// from the logs beside the config (and `log`, when kept elsewhere).
pub fn relays(config: &Config, log: &Path, now: SystemTime) -> anyhow::Result<Vec<Relay>> {
    let window = window();
    let names: Vec<String> = config.relays.iter().map(|r| r.name.clone()).collect();
    let limited = config
        .relays
        .iter()
        .any(|r| r.daily_limit.is_some() || !r.warmup.is_empty());
    let usage = if limited {
        let logs = crate::deliver::journal::every_log(config, Some(log));
        fleet::usage(&logs, now - window, &names)
    } else {
        fleet::Usage::default()
    };
    let mut out = Vec::new();
    for r in &config.relays {
        let password = std::env::var(&r.smtp.password_env)
            .ok()
            .map(SecretString::from);
        let server = Server::new(&r.smtp, password, &config.newsletter.from.email)?;
        // Warm-up days count from the relay's first logged send.
        let day = usage.first.get(&r.name).map_or(0, |first| {
            now.duration_since(*first).unwrap_or_default().as_secs() / window.as_secs().max(1)
        });
        let sends = usage.sends.get(&r.name).cloned().unwrap_or_default();
        out.push(Relay::new(
            r.name.clone(),
            server,
            r.weight,
            r.concurrency.unwrap_or(config.sending.concurrency),
            r.rate.unwrap_or(0.0),
            config.sending.breaker,
            Quota::new(r.limit_on(day), window, sends),
        ));
    }
    Ok(out)
}

/// After a run that left readers waiting: one line a relay whose quota
/// is used up ("ses: 100 in 24 h used; capacity from 14:05 UTC"), then how
/// many wait. Nothing when no quota stopped the run.
pub fn report_quotas(relays: &[Relay], waiting: u64) {
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
