//! `[bounces]`: where bounces, complaints and mailed unsubscribes come
//! back (the envelope sender, VERP), and when soft bounces count as one.

use serde::Deserialize;
use toml::Spanned;

use crate::input::email::Email;
use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounces {
    /// `bounces@example.org`: each message's envelope sender becomes
    /// `bounces+{token}@example.org`.
    pub address: Email,
    /// Soft bounces, each from a different issue, that make a reader
    /// `bounced`...
    pub soft_limit: u32,
    /// ...within this many days.
    pub soft_window_days: u32,
    /// The mailbox to read over IMAP (`bulletin bounces` without a path).
    pub imap: Option<Imap>,
}

/// `imap = "imaps://host[:port]/MAILBOX"`: IMAP over TLS, always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imap {
    pub host: String,
    pub port: u16,
    pub mailbox: String,
    pub username: String,
    /// The environment variable holding the password.
    pub password_env: String,
    pub tls_ca_file: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBounces {
    address: Spanned<String>,
    #[serde(default = "default_soft_limit")]
    soft_limit: Spanned<u32>,
    #[serde(default = "default_window")]
    soft_window_days: Spanned<u32>,
    imap: Option<Spanned<String>>,
    username: Option<String>,
    #[serde(default = "default_password_env")]
    password_env: String,
    tls_ca_file: Option<String>,
}

fn default_password_env() -> String {
    "BULLETIN_IMAP_PASSWORD".into()
}

fn default_soft_limit() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

fn default_window() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}

pub(super) fn check_bounces(
    file: &mut TomlFile,
    raw: RawBounces,
    dir: &std::path::Path,
) -> Option<Bounces> {
    // `+` and a 33-character token (`{24 hex}-{8 hex}`) go after the
    // user part, and a local part may have 64 octets (RFC 5321 4.5.3.1.1).
    let address = match Email::parse(raw.address.get_ref()) {
        Ok(a) if a.address().user().len() > 64 - 34 => {
            file.problem_at(
                raw.address.span().start,
                "[bounces] `address`: the part before @ must be 30 characters at most: bulletin adds a 34-character `+token` to it, and 64 is the limit",
            );
            return None;
        }
        Ok(a) if !a.as_str().contains('+') && a.address().user().is_ascii() => a,
        Ok(_) => {
            file.problem_at(
                raw.address.span().start,
                "[bounces] `address` must be a plain ASCII address without `+`: bulletin adds `+token` to it",
            );
            return None;
        }
        Err(why) => {
            file.problem_at(
                raw.address.span().start,
                format!("[bounces] `address`: {why}"),
            );
            return None;
        }
    };
    for (key, value) in [
        ("soft_limit", &raw.soft_limit),
        ("soft_window_days", &raw.soft_window_days),
    ] {
        if *value.get_ref() == 0 {
            file.problem_at(
                value.span().start,
                format!("[bounces] `{key}` must be at least 1"),
            );
            return None;
        }
    }
    let imap = match &raw.imap {
        None => None,
        Some(value) => {
            let parsed = url::Url::parse(value.get_ref().trim())
                .ok()
                .filter(|u| u.scheme() == "imaps" && u.host_str().is_some() && u.query().is_none());
            let (Some(url), Some(username)) = (parsed, &raw.username) else {
                file.problem_at(
                    value.span().start,
                    "[bounces] `imap` must be like \"imaps://imap.example.org/INBOX\", with `username` beside it",
                );
                return None;
            };
            let mailbox = url.path().trim_start_matches('/');
            Some(Imap {
                host: url.host_str().unwrap_or_default().to_owned(),
                port: url.port().unwrap_or(993),
                mailbox: if mailbox.is_empty() {
                    "INBOX".into()
                } else {
                    mailbox.to_owned()
                },
                username: username.clone(),
                password_env: raw.password_env.clone(),
                tls_ca_file: raw.tls_ca_file.as_ref().map(|f| dir.join(f)),
            })
        }
    };
    Some(Bounces {
        address,
        soft_limit: *raw.soft_limit.get_ref(),
        soft_window_days: *raw.soft_window_days.get_ref(),
        imap,
    })
}
