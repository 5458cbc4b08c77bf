//! `config.toml`: what every issue of the newsletter shares, checked strictly.
//! Secrets never live here; they come from environment variables.

pub mod look;

pub use look::Logo;

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::input::lang::Lang;
use crate::input::words::Words;
use toml::Spanned;

use crate::input::checked::{Line, ListId};
use crate::input::diagnostic::Diagnostics;
use crate::input::fields::{FieldText, Spot};
use crate::input::markdown::Markdown;
use crate::input::toml_file::TomlFile;

mod archive;
mod bounces;
mod feed;
mod relays;
mod serve;
mod transport;

pub use archive::Archive;
use archive::{RawArchive, check_archive};
pub use bounces::{Bounces, Imap};
use bounces::{RawBounces, check_bounces};
pub use feed::{DEFAULT_MAX_ITEMS, DEFAULT_SUBJECT, Feed, SUBJECT_FIELDS};
use feed::{RawFeed, check_feed};
pub use relays::Relay;
use relays::{RawSmtps, check_relays};
pub use serve::{CONFIRM_EXPIRY, Cidr, Serve, Topic, canonical};
use serve::{RawServe, check_serve};
pub use transport::{BREAKER, Security, Sending, Smtp};
use transport::{RawSending, check_sending};

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub newsletter: Newsletter,
    /// The first relay: the one confirmation mail and test copies go
    /// through.
    pub smtp: Option<Smtp>,
    /// Every relay a send spreads its readers over (one for `[smtp]`).
    pub relays: Vec<Relay>,
    pub sending: Sending,
    pub unsubscribe: Option<UnsubscribeConfig>,
    pub dkim: Option<DkimSettings>,
    pub serve: Option<Serve>,
    pub bounces: Option<Bounces>,
    pub archive: Option<Archive>,
    /// `[feed]`, for `draft --from-feed`.
    pub feed: Option<Feed>,
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
    /// `about` again when it holds per-reader fields.
    pub about_fields: Option<FieldText>,
    /// One line per line of the address.
    pub postal_address: Option<Vec<Line>>,
    pub list_id: ListId,
    /// Resolved against the config file's folder.
    pub subscribers: PathBuf,
    /// Gmail's Feedback-ID sender id (5 to 15 letters, digits, `-`, `_`),
    /// the same for every issue: `Feedback-ID` is added when set.
    pub sender_id: Option<String>,
    /// The newsletter's own zone: where `send --at` times with no zone are
    /// read, and the zone of readers with no `timezone` of their own.
    pub timezone: Option<crate::input::when::Zone>,
    /// What issues carry unless one says otherwise (`format`).
    pub format: Format,
    /// The masthead's logo (`logo`), carried in every HTML mail.
    pub logo: Option<Logo>,
    /// The language issues are written in (`lang`, default `en`); readers
    /// of another get a translation when the issue has one.
    pub lang: Lang,
    /// The words bulletin writes, as the config sets them per language
    /// (`[words.<lang>]`, over the built-in ones).
    pub words: Vec<(Lang, Words)>,
}

/// What a mail carries (`format`, in an issue or `[newsletter]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// An HTML part and a plain-text one (`multipart/alternative`).
    #[default]
    Html,
    /// One `text/plain` part, no HTML at all.
    Text,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "html" => Ok(Format::Html),
            "text" => Ok(Format::Text),
            other => Err(format!(
                "`format` is \"html\" (an HTML and a plain-text part, the default) or \"text\" (plain text only), not {other:?}"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    newsletter: RawNewsletter,
    smtp: Option<RawSmtps>,
    sending: Option<Spanned<RawSending>>,
    unsubscribe: Option<RawUnsubscribe>,
    dkim: Option<RawDkim>,
    serve: Option<RawServe>,
    bounces: Option<RawBounces>,
    archive: Option<Spanned<RawArchive>>,
    feed: Option<RawFeed>,
    /// `[words.<lang>]`: the words bulletin writes, per language.
    #[serde(default)]
    words: std::collections::BTreeMap<
        Spanned<String>,
        std::collections::BTreeMap<Spanned<String>, Spanned<String>>,
    >,
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
struct RawNewsletter {
    name: Spanned<String>,
    from: Spanned<String>,
    reply_to: Option<Spanned<String>>,
    about: Option<Spanned<String>>,
    postal_address: Option<Spanned<String>>,
    list_id: Spanned<String>,
    subscribers: Spanned<String>,
    sender_id: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    logo: Option<Spanned<String>>,
    lang: Option<Spanned<String>>,
}

/// An optional section, checked when present: the result, and whether it
/// is fine (absent is fine; present and wrong is not).
fn optional<R, T>(raw: Option<R>, check: impl FnOnce(R) -> Option<T>) -> (Option<T>, bool) {
    match raw {
        Some(r) => {
            let checked = check(r);
            let ok = checked.is_some();
            (checked, ok)
        }
        None => (None, true),
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let mut file = TomlFile::read(path)?;
        let raw: RawConfig = file.deserialize()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let newsletter = check_newsletter(&mut file, raw.newsletter, dir);
        let words = look::check_words(&mut file, raw.words);
        let newsletter = newsletter.zip(words).map(|(mut n, words)| {
            n.words = words;
            n
        });
        let (relays, relays_ok) = optional(raw.smtp, |s| check_relays(&mut file, s, dir));
        let relays = relays.unwrap_or_default();
        let smtp = relays.first().map(|r| r.smtp.clone());
        let sending = match raw.sending {
            Some(s) => check_sending(&mut file, s),
            None => Some(Sending::default()),
        };
        let (unsubscribe, unsubscribe_ok) =
            optional(raw.unsubscribe, |u| check_unsubscribe(&mut file, u));
        let (dkim, dkim_ok) = optional(raw.dkim, |d| check_dkim(&mut file, d, dir));
        let (serve, serve_ok) = optional(raw.serve, |s| check_serve(&mut file, s, dir));
        let (bounces, bounces_ok) = optional(raw.bounces, |b| check_bounces(&mut file, b, dir));
        let public_url = serve.as_ref().map(|s| s.public_url.clone());
        let (archive, archive_ok) = optional(raw.archive, |a| {
            check_archive(&mut file, a, dir, public_url.as_deref())
        });
        let (feed, feed_ok) = optional(raw.feed, |f| check_feed(&mut file, f, dir));
        let config = match (newsletter, sending) {
            (Some(newsletter), Some(sending))
                if relays_ok
                    && unsubscribe_ok
                    && dkim_ok
                    && serve_ok
                    && bounces_ok
                    && archive_ok
                    && feed_ok =>
            {
                Some(Config {
                    path: path.to_path_buf(),
                    newsletter,
                    smtp,
                    relays,
                    sending,
                    unsubscribe,
                    dkim,
                    serve,
                    bounces,
                    archive,
                    feed,
                })
            }
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
        let md = file.markdown("about", v)?;
        // The footer is the same in every issue and has no folder to
        // publish from: its images are https URLs.
        for (offset, src) in md.local_images() {
            let line = file.line_in(v, offset);
            file.problem_on_line(
                line,
                format!(
                    "`about`: image {src:?} is a local file; the footer's images are https:// URLs"
                ),
            );
        }
        Some(md).filter(|md| md.local_images().is_empty())
    });
    ok &= raw.about.is_none() || about.is_some();
    let about_fields = match &raw.about {
        Some(v) => file.fields(Spot::About, "about", v).unwrap_or_else(|| {
            ok = false;
            None
        }),
        None => None,
    };
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
    let sender_id = raw.sender_id.as_ref().and_then(|v| {
        let id = v.get_ref().trim();
        let fine = (5..=15).contains(&id.len())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !fine {
            file.problem_at(
                v.span().start,
                "`sender_id` is 5 to 15 letters, digits, `-` or `_`, the same for every issue (Gmail's Feedback-ID)",
            );
            ok = false;
        }
        fine.then(|| id.to_owned())
    });
    let timezone = raw.timezone.as_ref().and_then(|v| {
        let zone = crate::input::when::Zone::parse(v.get_ref())
            .map_err(|why| file.problem_at(v.span().start, format!("`timezone`: {why}")))
            .ok();
        ok &= zone.is_some();
        zone
    });
    let format = match &raw.format {
        None => Some(Format::Html),
        Some(v) => Format::parse(v.get_ref())
            .map_err(|why| file.problem_at(v.span().start, why))
            .ok(),
    };
    ok &= format.is_some();
    let lang = match &raw.lang {
        None => Some(Lang::default()),
        Some(v) => Lang::parse(v.get_ref())
            .map_err(|why| file.problem_at(v.span().start, format!("`lang`: {why}")))
            .ok(),
    };
    ok &= lang.is_some();
    let logo = raw.logo.as_ref().and_then(|v| {
        let logo = look::read_logo(file, dir, v);
        ok &= logo.is_some();
        logo
    });
    if !ok {
        return None;
    }
    Some(Newsletter {
        sender_id,
        timezone,
        format: format?,
        logo,
        lang: lang?,
        words: Vec::new(),
        name: name?,
        from: from?,
        reply_to,
        about,
        about_fields,
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
pub(super) fn refuse_secret(
    file: &mut TomlFile,
    value: &Spanned<toml::Value>,
    key: &str,
    env: &str,
) {
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
    // http only to this machine: a test of `bulletin serve` on loopback.
    let loopback_http = url::Url::parse(&sample).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            }
    });
    if !(url.starts_with("https://") || loopback_http)
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
