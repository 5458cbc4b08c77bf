//! `config.toml`: what every issue of the newsletter shares, checked strictly.
//! Secrets never live here; they come from environment variables.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;
use toml::Spanned;

use crate::input::checked::{Line, ListId};
use crate::input::diagnostic::Diagnostics;
use crate::input::markdown::Markdown;
use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub newsletter: Newsletter,
    pub smtp: Option<Smtp>,
    pub sending: Sending,
    pub unsubscribe: Option<UnsubscribeConfig>,
    pub dkim: Option<DkimSettings>,
}

/// `[dkim]`: sign every message for `domain` with the key in `private_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    pub domain: String,
    pub selector: String,
    /// Resolved against the config file's folder.
    pub private_key: PathBuf,
}

/// `[unsubscribe]`: one-click unsubscribe (RFC 8058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeConfig {
    /// An https URL containing `{token}`.
    pub url: String,
    /// An address readers may mail to unsubscribe.
    pub mailto: Option<String>,
    /// Name of the environment variable holding the token secret.
    pub secret_env: String,
}

#[derive(Debug, Clone)]
pub struct Newsletter {
    pub name: Line,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The standing footer: who publishes this and why the reader gets it.
    pub about: Option<Markdown>,
    /// One line per line of the address.
    pub postal_address: Option<Vec<Line>>,
    pub list_id: ListId,
    /// Resolved against the config file's folder.
    pub subscribers: PathBuf,
}

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
}

impl Default for Sending {
    fn default() -> Self {
        Self {
            concurrency: 4,
            rate: 0.0,
            batch_size: 0,
            batch_pause: Duration::ZERO,
            max_attempts: 3,
            retry_delay: Duration::from_secs(2),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    newsletter: RawNewsletter,
    smtp: Option<RawSmtp>,
    sending: Option<Spanned<RawSending>>,
    unsubscribe: Option<RawUnsubscribe>,
    dkim: Option<RawDkim>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDkim {
    domain: Spanned<String>,
    selector: Spanned<String>,
    private_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnsubscribe {
    url: Spanned<String>,
    mailto: Option<Spanned<String>>,
    #[serde(default = "default_secret_env")]
    secret_env: String,
    /// Accepted only to refuse it with a message saying where it belongs.
    secret: Option<Spanned<toml::Value>>,
}

fn default_secret_env() -> String {
    "BULLETIN_UNSUBSCRIBE_SECRET".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSending {
    concurrency: Option<usize>,
    rate: Option<f64>,
    batch_size: Option<u64>,
    batch_pause: Option<f64>,
    max_attempts: Option<u32>,
    retry_delay: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNewsletter {
    name: Spanned<String>,
    from: Spanned<String>,
    reply_to: Option<Spanned<String>>,
    about: Option<Spanned<String>>,
    postal_address: Option<Spanned<String>>,
    list_id: Spanned<String>,
    subscribers: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
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

impl Config {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let mut file = TomlFile::read(path)?;
        let raw: RawConfig = file.deserialize()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let newsletter = check_newsletter(&mut file, raw.newsletter, dir);
        let smtp = raw.smtp.and_then(|s| check_smtp(&mut file, s, dir));
        let sending = match raw.sending {
            Some(s) => check_sending(&mut file, s),
            None => Some(Sending::default()),
        };
        let (unsubscribe, unsubscribe_ok) = match raw.unsubscribe {
            Some(u) => {
                let checked = check_unsubscribe(&mut file, u);
                let ok = checked.is_some();
                (checked, ok)
            }
            None => (None, true),
        };
        let (dkim, dkim_ok) = match raw.dkim {
            Some(d) => {
                let checked = check_dkim(&mut file, d, dir);
                let ok = checked.is_some();
                (checked, ok)
            }
            None => (None, true),
        };
        let config = match (newsletter, sending) {
            (Some(newsletter), Some(sending)) if unsubscribe_ok && dkim_ok => Some(Config {
                path: path.to_path_buf(),
                newsletter,
                smtp,
                sending,
                unsubscribe,
                dkim,
            }),
            _ => None,
        };
        file.finish(config)
    }
}

fn mailbox(file: &mut TomlFile, key: &str, value: &Spanned<String>) -> Option<Mailbox> {
    // Checked as a line first: lettre panics on CR/LF in a display name.
    file.line(key, value)?;
    value
        .get_ref()
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| {
            file.problem_at(
                value.span().start,
                format!(
                    "`{key}` {:?} is not an address like \"Name <news@example.org>\" ({e})",
                    value.get_ref()
                ),
            )
        })
        .ok()
}

fn check_newsletter(file: &mut TomlFile, raw: RawNewsletter, dir: &Path) -> Option<Newsletter> {
    // Every field is checked before giving up, so all problems show at once.
    let mut ok = true;
    let name = file.line("name", &raw.name);
    let from = mailbox(file, "from", &raw.from);
    let reply_to = raw.reply_to.as_ref().and_then(|v| {
        let m = mailbox(file, "reply_to", v);
        ok &= m.is_some();
        m
    });
    let about = raw.about.as_ref().and_then(|v| {
        let md = file.markdown("about", v);
        ok &= md.is_some();
        md
    });
    let postal_address = raw.postal_address.as_ref().and_then(|v| {
        let lines = postal_lines(v.get_ref())
            .map_err(|why| file.problem_at(v.span().start, format!("`postal_address` {why}")))
            .ok();
        ok &= lines.is_some();
        lines
    });
    let list_id = ListId::parse(raw.list_id.get_ref().trim())
        .map_err(|why| file.problem_at(raw.list_id.span().start, format!("`list_id`: {why}")))
        .ok();
    if !ok {
        return None;
    }
    Some(Newsletter {
        name: name?,
        from: from?,
        reply_to,
        about,
        postal_address,
        list_id: list_id?,
        subscribers: dir.join(raw.subscribers.get_ref()),
    })
}

fn postal_lines(s: &str) -> Result<Vec<Line>, String> {
    let lines = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(Line::parse)
        .collect::<Result<Vec<Line>, String>>()?;
    if lines.is_empty() {
        return Err("is empty".into());
    }
    Ok(lines)
}

fn check_dkim(file: &mut TomlFile, raw: RawDkim, dir: &Path) -> Option<DkimSettings> {
    let mut ok = true;
    for (key, v) in [("domain", &raw.domain), ("selector", &raw.selector)] {
        let good = !v.get_ref().is_empty()
            && v.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !good {
            file.problem_at(
                v.span().start,
                format!("[dkim] `{key}` {:?} is not a DNS name", v.get_ref()),
            );
            ok = false;
        }
    }
    ok.then(|| DkimSettings {
        domain: raw.domain.into_inner().to_ascii_lowercase(),
        selector: raw.selector.into_inner(),
        private_key: dir.join(raw.private_key),
    })
}

/// A secret written into the config: refused, with where it belongs, and
/// never echoed.
fn refuse_secret(file: &mut TomlFile, value: &Spanned<toml::Value>, key: &str, env: &str) {
    file.problem_at(
        value.span().start,
        format!(
            "`{key}` does not belong in the config file; remove it and set the environment variable {env} instead"
        ),
    );
}

fn check_unsubscribe(file: &mut TomlFile, raw: RawUnsubscribe) -> Option<UnsubscribeConfig> {
    if let Some(s) = &raw.secret {
        refuse_secret(file, s, "secret", &raw.secret_env);
        return None;
    }
    let url = raw.url.get_ref().trim();
    let sample = url.replace("{token}", "TOKEN");
    if !url.starts_with("https://")
        || !url.contains("{token}")
        || crate::input::markdown::check_url(&sample).is_err()
    {
        file.problem_at(
            raw.url.span().start,
            "`url` must be an https URL containing {token}, like \"https://example.org/unsubscribe/{token}\"",
        );
        return None;
    }
    let mailto = match &raw.mailto {
        Some(m) => match crate::input::email::Email::parse(m.get_ref()) {
            Ok(e) => Some(e.to_string()),
            Err(why) => {
                file.problem_at(m.span().start, format!("`mailto`: {why}"));
                return None;
            }
        },
        None => None,
    };
    Some(UnsubscribeConfig {
        url: url.to_owned(),
        mailto,
        secret_env: raw.secret_env,
    })
}

fn check_sending(file: &mut TomlFile, raw: Spanned<RawSending>) -> Option<Sending> {
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
    })
}

fn check_smtp(file: &mut TomlFile, raw: RawSmtp, dir: &Path) -> Option<Smtp> {
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
        username: raw.username,
        password_env: raw.password_env,
        timeout: Duration::from_secs(raw.timeout_secs.max(1)),
        data_timeout: Duration::from_secs(raw.data_timeout_secs.max(1)),
        hello_name,
        tls_ca_file: raw.tls_ca_file.map(|f| dir.join(f)),
    })
}
