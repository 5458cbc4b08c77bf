//! The pre-send check: what Gmail's and Yahoo's bulk-sender rules and
//! CAN-SPAM ask of every message, as warnings an editor can act on.

use crate::compose::render::Rendered;
use crate::input::config::Config;
use crate::input::issue::Issue;
use crate::input::media::HEAVY_BYTES;

/// Gmail clips an HTML part past about this size.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// What stops an issue from being sent as rendered: an HTML part past
/// what Gmail shows before it clips the message (hiding the footer and
/// its unsubscribe link).
pub fn refusal(issue: &Issue, parts: &Rendered) -> Option<String> {
    let html = parts.html.as_ref().filter(|h| h.len() > GMAIL_CLIP_BYTES)?;
    Some(format!(
        "{}: the HTML part is {} KB ({} bytes), past the 102 KB Gmail shows before it clips \
         the message and hides its footer with the unsubscribe link; shorten the issue or \
         split it in two",
        issue.file.display(),
        html.len().div_ceil(1024),
        html.len()
    ))
}

/// Past this many messages a day to Gmail a sender is a bulk sender.
pub const BULK_SENDER: u64 = 5_000;

/// Past this many readers a list without `[bounces]` is warned about.
pub const BOUNCES_ABOVE: u64 = 1_000;

/// Every warning for sending `parts` to `readers` readers with `config`.
pub fn warnings(config: &Config, issue: &Issue, readers: u64) -> Vec<String> {
    let mut out = Vec::new();
    match &config.unsubscribe {
        None => out.push(
            "no [unsubscribe] section: messages carry no one-click unsubscribe (RFC 8058), \
             which Gmail and Yahoo require of bulk senders"
                .to_owned(),
        ),
        Some(u) => {
            if std::env::var(&u.secret_env).map_or(true, |s| s.is_empty()) {
                out.push(format!(
                    "{} is not set: a real send will refuse to start without the unsubscribe secret",
                    u.secret_env
                ));
            }
            if let Some(serve) = &config.serve {
                let served = format!("{}/unsubscribe/{{token}}", serve.public_url);
                if u.url != served {
                    out.push(format!(
                        "[unsubscribe] url is {}, but `bulletin serve` answers {served}: one-click unsubscribes would not reach it",
                        u.url
                    ));
                }
            }
        }
    }
    for relay in &config.relays {
        let smtp = &relay.smtp;
        if smtp.username.is_some()
            && std::env::var(&smtp.password_env).map_or(true, |p| p.is_empty())
        {
            out.push(format!(
                "relay {}: `username` is set but {} is not: a send will fail to log in",
                relay.name, smtp.password_env
            ));
        }
    }
    let from = config.newsletter.from.email.domain().to_ascii_lowercase();
    match &config.dkim {
        Some(d) => {
            let aligned = from == d.domain || from.ends_with(&format!(".{}", d.domain));
            if !aligned {
                out.push(format!(
                    "the From domain {from} is not aligned with the DKIM domain {}: DMARC will fail",
                    d.domain
                ));
            }
        }
        None if readers > BULK_SENDER => out.push(format!(
            "no [dkim] key, and {readers} readers is more than {BULK_SENDER}: Gmail and Yahoo reject unsigned bulk mail"
        )),
        None => {}
    }
    if config.bounces.is_none() && readers > BOUNCES_ABOVE {
        out.push(format!(
            "no [bounces] section, and {readers} readers is more than {BOUNCES_ABOVE}: bounces \
             and complaints go to the From address and nobody takes dead addresses off the list"
        ));
    }
    if config.newsletter.postal_address.is_none() {
        out.push(
            "no `postal_address` in [newsletter]: CAN-SPAM asks for one in every message".into(),
        );
    }
    // Every relay limited: the list may need more than a day.
    let limits: Option<u64> = config
        .relays
        .iter()
        .map(|r| r.daily_limit.or(r.warmup.first().copied()))
        .sum();
    if let Some(day) = limits.filter(|day| *day < readers && !config.relays.is_empty()) {
        out.push(format!(
            "{readers} readers is more than one day of every relay's daily limit ({day}): the send takes {} days; run it again each day, or keep it running with `send --wait`",
            readers.div_ceil(day.max(1))
        ));
    }
    // The reader's link adds about a hundred bytes; the part is what matters.
    for image in issue.all_images().filter(|i| i.bytes > HEAVY_BYTES) {
        out.push(format!(
            "image {:?} ({}:{}) is {:.1} MB: slow to load on a phone; a picture for a mail \
             rarely needs more than 200 KB",
            image.src,
            issue.file.display(),
            image.line,
            image.bytes as f64 / 1_048_576.0
        ));
    }
    out
}
