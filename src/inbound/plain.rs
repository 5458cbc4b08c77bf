//! Bounces written in plain text rather than as delivery status
//! notifications (Exim's "Mail delivery failed", qmail's "failure notice",
//! older Exchange): known by their shape, read for the status code in the
//! server's own words and for the recipient they name.

use mail_parser::Message;

use super::classify::{
    Finding, Mark, NotOurs, Ours, Recipients, What, addressed_to, date, permanent, recipient,
};
use crate::deliver::refusal::enhanced_code;

/// Subjects mail servers give the bounces they write in plain text.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliverable",
    "undelivered",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "returned mail",
    "failure notice",
    "mail delivery failed",
    "mail delivery failure",
    "delivery notification",
    "non-delivery",
    "nondeliverable",
];

/// Whether a message has the shape of a bounce: a failed-recipients
/// header, a mail system's own sender with a null return path, or a
/// subject mail servers use for one.
pub fn looks_like_bounce(message: &Message<'_>) -> bool {
    if message.header_raw("X-Failed-Recipients").is_some() {
        return true;
    }
    let null_path = message
        .header_raw("Return-Path")
        .is_some_and(|v| v.trim() == "<>");
    let daemon = message
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .and_then(|a| a.split('@').next())
        .is_some_and(|local| {
            let local = local.to_ascii_lowercase();
            local == "mailer-daemon" || local == "postmaster"
        });
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    (daemon && null_path) || BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s))
}

/// Our Message-ID quoted in a plain-text bounce's body (the copy of the
/// original's headers that Exim and qmail append).
fn quoted_id(body: &str, ours: &Ours<'_>) -> Option<Mark> {
    body.lines().find_map(|line| {
        let (name, value) = line.trim_start().split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| ours.message_id(value))
            .flatten()
            .map(Mark::Digest)
    })
}

/// A bounce written in plain text (Exim's "Mail delivery failed", qmail's
/// "failure notice", older Exchange): the status from its words, the
/// recipient from `X-Failed-Recipients` or qmail's `<address>:` line.
pub fn plain_bounce(message: &Message<'_>, ours: &Ours<'_>) -> Result<Finding, NotOurs> {
    let body = message.body_text(0).unwrap_or_default();
    let mark = addressed_to(message)
        .iter()
        .find_map(|a| ours.verp(a))
        .or_else(|| quoted_id(&body, ours))
        .ok_or("a bounce about mail that is not ours")?;
    // The first line with a permanent (or else a temporary) status code,
    // in the server's own words: the copy of our message after them (its
    // headers, its text) is not read for codes.
    let mut found: Option<((u8, u16, u16), &str)> = None;
    for line in body.lines().map(str::trim) {
        let lower = line.to_ascii_lowercase();
        if ["received:", "return-path:", "message-id:"]
            .iter()
            .any(|h| lower.starts_with(h))
            || lower.contains("copy of the message")
            || lower.contains("original message")
        {
            break;
        }
        let code = enhanced_code(line).or_else(|| {
            // "… returned '550 5.1.1 RESOLVER.ADR.RecipNotFound'": a code
            // right after an SMTP reply code, mid-line.
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|w| w.trim_matches(['\'', '"', '(', ')', ':', ',', ';']))
                .collect();
            words.windows(2).find_map(|pair| {
                let smtp = pair[0].len() == 3
                    && pair[0].starts_with(['4', '5'])
                    && pair[0].bytes().all(|b| b.is_ascii_digit());
                smtp.then(|| enhanced_code(pair[1].trim_end_matches('.')))
                    .flatten()
            })
        });
        if let Some(code) = code
            && (found.is_none() || (code.0 == 5 && found.is_some_and(|(c, _)| c.0 != 5)))
        {
            found = Some((code, line));
        }
    }
    let named: Vec<String> = match message.header_raw("X-Failed-Recipients") {
        Some(v) => v.split(',').map(recipient).collect(),
        None => body
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let inner = l.strip_prefix('<')?.strip_suffix(">:")?;
                inner.contains('@').then(|| inner.to_owned())
            })
            .take(1)
            .collect(),
    };
    let recipients = Recipients::of(named.iter().map(String::as_str));
    let Some(((class, subject, detail_code), line)) = found else {
        return Err("a bounce in plain text without a status code: left for a person");
    };
    let status = format!("{class}.{subject}.{detail_code}");
    let what = match class {
        5 => permanent(&status, line, ours),
        4 => What::Soft,
        _ => return Err("a report of delivery, not of a failure"),
    };
    Ok(Finding {
        what,
        mark,
        status,
        detail: line.to_owned(),
        recipients,
        date: date(message),
    })
}
