//! `[smtp]` and `[sending]`: the relay bulletin hands mail to, and how fast.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::refuse_secret;
use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// STARTTLS required (port 587).
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// Plaintext: for a local development server only.
    None,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    /// Name of the environment variable holding the password.
    pub password_env: String,
    /// Bounds the connect and the reply to every command.
    pub timeout: Duration,
    /// Bounds the reply to the final dot, which a relay that scans or
    /// queues before answering may take long over (RFC 5321 4.5.3.2).
    pub data_timeout: Duration,
    /// The EHLO argument; `None`: this machine's fully qualified name, else
    /// the From domain (see `deliver::smtp`).
    pub hello_name: Option<String>,
    /// An extra root certificate (PEM) to trust, for a private relay.
    pub tls_ca_file: Option<PathBuf>,
}

/// `[sending]`: how fast and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Sending {
    /// Parallel SMTP connections.
    pub concurrency: usize,
    /// Messages per second across all connections; 0 means no limit.
    pub rate: f64,
    /// Send this many, then wait `batch_pause`; 0 means no batches.
    pub batch_size: u64,
    pub batch_pause: Duration,
    /// Tries per reader before a transient failure is recorded `deferred`.
    pub max_attempts: u32,
    /// First retry delay; it doubles with each attempt, with jitter.
    pub retry_delay: Duration,
    /// How many permanent refusals in a row with the same reply, across
    /// at least three recipient domains, stop the run as being about us.
    pub breaker: usize,
}

/// `[sending] breaker`'s default: permanent refusals in a row, with the
/// same reply across three domains, that stop a run.
pub const BREAKER: usize = 10;

impl Default for Sending {
    fn default() -> Self {
        Self {
            concurrency: 4,
            rate: 0.0,
            batch_size: 0,
            batch_pause: Duration::ZERO,
            max_attempts: 3,
            retry_delay: Duration::from_secs(2),
            breaker: BREAKER,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSending {
    concurrency: Option<usize>,
    rate: Option<f64>,
    batch_size: Option<u64>,
    batch_pause: Option<f64>,
    max_attempts: Option<u32>,
    retry_delay: Option<f64>,
    breaker: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    host: Spanned<String>,
    port: u16,
    security: Security,
    username: Option<String>,
    /// Accepted only to refuse it with a message saying where it belongs.
    password: Option<Spanned<toml::Value>>,
    #[serde(default = "default_password_env")]
    password_env: String,
    #[serde(default)]
    allow_insecure: bool,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_data_timeout")]
    data_timeout_secs: u64,
    hello_name: Option<Spanned<String>>,
    tls_ca_file: Option<String>,
    /// Several relays (`[[smtp]]`): see `relays.rs`.
    pub(super) name: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<u32>>,
    pub(super) concurrency: Option<Spanned<usize>>,
    pub(super) rate: Option<Spanned<f64>>,
    pub(super) daily_limit: Option<Spanned<u64>>,
    pub(super) warmup: Option<Spanned<Vec<u64>>>,
}

impl RawSmtp {
    /// Where the table is, for its problems: its `host`.
    pub(super) fn at(&self) -> usize {
        self.host.span().start
    }
}

fn default_password_env() -> String {
    "BULLETIN_SMTP_PASSWORD".into()
}

fn default_timeout() -> u64 {
    30
}

/// RFC 5321 4.5.3.2.6: ten minutes for the reply to the final dot.
fn default_data_timeout() -> u64 {
    600
}

/// A domain name (letters, digits, `-`, dots) or an address literal
/// (`[192.0.2.1]`): what RFC 5321 allows after EHLO.
fn valid_hello_name(name: &str) -> bool {
    if let Some(literal) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return literal.parse::<IpAddr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

pub(super) fn check_sending(file: &mut TomlFile, raw: Spanned<RawSending>) -> Option<Sending> {
    let at = raw.span().start;
    let raw = raw.into_inner();
    let d = Sending::default();
    let seconds = |v: Option<f64>, default: Duration| match v {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(()),
        None => Ok(default),
    };
    let mut problems = Vec::new();
    let concurrency = raw.concurrency.unwrap_or(d.concurrency);
    if !(1..=256).contains(&concurrency) {
        problems.push("`concurrency` must be from 1 to 256");
    }
    let rate = raw.rate.unwrap_or(d.rate);
    if !(rate.is_finite() && rate >= 0.0) {
        problems.push("`rate` must be 0 (no limit) or a positive number of messages per second");
    }
    let max_attempts = raw.max_attempts.unwrap_or(d.max_attempts);
    if max_attempts == 0 {
        problems.push("`max_attempts` must be at least 1");
    }
    let breaker = raw.breaker.unwrap_or(d.breaker);
    if !(2..=10_000).contains(&breaker) {
        problems.push("`breaker` must be from 2 to 10000 (refusals in a row)");
    }
    let batch_pause = seconds(raw.batch_pause, d.batch_pause);
    let retry_delay = seconds(raw.retry_delay, d.retry_delay);
    if batch_pause.is_err() || retry_delay.is_err() {
        problems.push("`batch_pause` and `retry_delay` are seconds, 0 or more");
    }
    for p in &problems {
        file.problem_at(at, format!("[sending] {p}"));
    }
    if !problems.is_empty() {
        return None;
    }
    Some(Sending {
        concurrency,
        rate,
        batch_size: raw.batch_size.unwrap_or(d.batch_size),
        batch_pause: batch_pause.ok()?,
        max_attempts,
        retry_delay: retry_delay.ok()?,
        breaker,
    })
}

pub(super) fn check_smtp(file: &mut TomlFile, raw: &RawSmtp, dir: &Path) -> Option<Smtp> {
    if let Some(p) = &raw.password {
        refuse_secret(file, p, "password", &raw.password_env);
        return None;
    }
    let host = raw.host.get_ref().trim().to_owned();
    if raw.security == Security::None && !raw.allow_insecure {
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback || raw.username.is_some() {
            file.problem_at(
                raw.host.span().start,
                "`security = \"none\"` sends in plaintext; it is allowed only to a loopback host without credentials, unless `allow_insecure = true`",
            );
            return None;
        }
    }
    let hello_name = match &raw.hello_name {
        Some(name) => {
            let trimmed = name.get_ref().trim();
            if !valid_hello_name(trimmed) || trimmed.eq_ignore_ascii_case("localhost") {
                file.problem_at(
                    name.span().start,
                    format!(
                        "`hello_name` {:?} is not a fully qualified domain name (like \"mail.example.org\") or an address literal (like \"[192.0.2.1]\")",
                        name.get_ref()
                    ),
                );
                return None;
            }
            Some(trimmed.to_owned())
        }
        None => None,
    };
    Some(Smtp {
        host,
        port: raw.port,
        security: raw.security,
        username: raw.username.clone(),
        password_env: raw.password_env.clone(),
        timeout: Duration::from_secs(raw.timeout_secs.max(1)),
        data_timeout: Duration::from_secs(raw.data_timeout_secs.max(1)),
        hello_name,
        tls_ca_file: raw.tls_ca_file.as_ref().map(|f| dir.join(f)),
    })
}
