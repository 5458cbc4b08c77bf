//! `config.toml`: what every issue of the newsletter shares, checked strictly.
//! Secrets never live here; they come from environment variables.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Diagnostics;
use crate::domain::{Line, ListId};
use crate::markdown::Markdown;
use crate::source::TomlFile;

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub newsletter: Newsletter,
    pub smtp: Option<Smtp>,
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
    pub timeout_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    newsletter: RawNewsletter,
    smtp: Option<RawSmtp>,
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
}

fn default_password_env() -> String {
    "BULLETIN_SMTP_PASSWORD".into()
}

fn default_timeout() -> u64 {
    30
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let mut file = TomlFile::read(path)?;
        let raw: RawConfig = file.deserialize()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let newsletter = check_newsletter(&mut file, raw.newsletter, dir);
        let smtp = raw.smtp.and_then(|s| check_smtp(&mut file, s));
        let config = newsletter.map(|newsletter| Config {
            path: path.to_path_buf(),
            newsletter,
            smtp,
        });
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

fn check_smtp(file: &mut TomlFile, raw: RawSmtp) -> Option<Smtp> {
    if let Some(p) = &raw.password {
        file.problem_at(
            p.span().start,
            format!(
                "`password` does not belong in the config file; remove it and set the environment variable {} instead",
                raw.password_env
            ),
        );
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
    Some(Smtp {
        host,
        port: raw.port,
        security: raw.security,
        username: raw.username,
        password_env: raw.password_env,
        timeout_secs: raw.timeout_secs,
    })
}
