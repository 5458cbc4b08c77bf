//! What one returned mail is: a delivery status notification (RFC 3464),
//! a bounce in the plain text some servers send (Exim, qmail, Exchange),
//! a complaint (ARF, RFC 5965), a reader's mailed unsubscribe, or none of
//! ours. A bounce is known by its shape, whatever its `Auto-Submitted`
//! says; the status code is read as a send reads a refusal
//! (`deliver::refusal`). Pure: bytes in, a finding out.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::plain;
use crate::deliver::refusal::{Blame, blame};
use crate::input::email::{Fingerprint, fingerprint_of};

/// How a message points at the mail we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// The 32-hex digest of our Message-ID: from the VERP address of a
    /// send without a secret, or the returned original's Message-ID.
    Digest(String),
    /// A VERP token `{reader}-{issue}` (24 and 8 hex digits): the reader
    /// is found from the list.
    Verp { reader: String, issue: String },
    /// A reader's unsubscribe token (from the mailto's subject).
    Token(String),
}

/// What a returned mail says about a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Their mailbox is gone: a permanent failure with a mailbox code.
    Hard,
    /// A permanent failure with a 4.x.x status, or a full mailbox (5.2.2).
    Soft,
    /// A permanent failure that is not about their mailbox (policy,
    /// content, reputation, the relay, or no code at all): recorded with
    /// its reason, it changes nobody's status.
    Refused,
    /// `Feedback-Type: abuse`.
    Complaint,
    /// Mail to the List-Unsubscribe mailto.
    Unsubscribe,
}

/// One returned mail about one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: What,
    pub mark: Mark,
    /// The enhanced status (`5.1.1`), if any.
    pub status: String,
    pub detail: String,
    /// The recipients the report names (Final- and Original-Recipient,
    /// `X-Failed-Recipients`), as fingerprints of their lower-cased
    /// addresses (a finding is kept for every returned mail of a big
    /// mailbox): one must be the reader the mark names.
    pub recipients: Recipients,
    /// When the report was written (its Date), if it says.
    pub date: Option<std::time::SystemTime>,
}

/// Up to two recipients a report names, by fingerprint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recipients([Option<Fingerprint>; 2]);

impl Recipients {
    /// From the addresses named, the first two different ones kept.
    pub fn of<'a>(addresses: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = [None; 2];
        let mut n = 0;
        for a in addresses.into_iter().filter(|a| a.contains('@')) {
            let key = Some(fingerprint_of(a));
            if !out[..n].contains(&key) {
                out[n] = key;
                n += 1;
                if n == out.len() {
                    break;
                }
            }
        }
        Self(out)
    }

    /// Whether none is named (a plain-text bounce may not say).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Whether `address` (lower-cased here) is one of them.
    pub fn contains(&self, address: &str) -> bool {
        let key = fingerprint_of(address);
        self.0.contains(&Some(key))
    }
}

/// Why a mail is left as it is: not a bounce, complaint or unsubscribe
/// of ours (an out-of-office reply, a stranger's mail, a delay report),
/// or nothing in it says which message it is about.
pub type NotOurs = &'static str;

/// What marks our mail: the VERP base (`bounces`, `example.org`) and the
/// domain of our Message-IDs.
pub struct Ours<'a> {
    pub verp_user: &'a str,
    pub verp_domain: &'a str,
    pub id_domain: &'a str,
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Ours<'_> {
    /// The mark in `bounces+{token}@domain`, any case: a VERP token, or
    /// a Message-ID's digest.
    pub(super) fn verp(&self, address: &str) -> Option<Mark> {
        let address = address.trim().trim_matches(['<', '>']);
        let (local, domain) = address.rsplit_once('@')?;
        let (user, token) = local.split_once('+')?;
        if !user.eq_ignore_ascii_case(self.verp_user)
            || !domain.eq_ignore_ascii_case(self.verp_domain)
        {
            return None;
        }
        let token = token.to_ascii_lowercase();
        if is_hex32(&token) {
            return Some(Mark::Digest(token));
        }
        let (reader, issue) = token.split_once('-')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(reader, 24) && hex(issue, 8)).then(|| Mark::Verp {
            reader: reader.to_owned(),
            issue: issue.to_owned(),
        })
    }

    /// The digest in `<{digest}@id-domain>`.
    pub(super) fn message_id(&self, id: &str) -> Option<String> {
        let (digest, domain) = id.trim().trim_matches(['<', '>']).split_once('@')?;
        (domain.eq_ignore_ascii_case(self.id_domain) && is_hex32(digest))
            .then(|| digest.to_ascii_lowercase())
    }
}

/// The headers a mail was addressed by on its way to the mailbox.
pub(super) fn addressed_to(message: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in message.headers_raw() {
        if [
            "to",
            "delivered-to",
            "x-original-to",
            "envelope-to",
            "x-envelope-to",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        {
            out.extend(value.split(',').map(|v| {
                let v = v.trim();
                match (v.rfind('<'), v.rfind('>')) {
                    (Some(a), Some(b)) if a < b => v[a + 1..b].to_owned(),
                    _ => v.to_owned(),
                }
            }));
        }
    }
    out
}

/// A part's bytes, whatever mail-parser made of it.
fn part_text<'a>(part: &'a mail_parser::MessagePart<'a>) -> Option<std::borrow::Cow<'a, str>> {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => Some(std::borrow::Cow::Borrowed(t.as_ref())),
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(String::from_utf8_lossy(b)),
        _ => None,
    }
}

/// Header-like blocks (`Name: value`, folded lines joined), split at blank
/// lines: the layout of message/delivery-status and feedback-report.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                out.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some(last) = block.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !block.is_empty() {
        out.push(block);
    }
    out
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The Message-ID of the original in a report: a message/rfc822 part, or
/// text/rfc822-headers.
fn original_id(message: &Message<'_>, ours: &Ours<'_>) -> Option<String> {
    for part in &message.parts {
        if let PartType::Message(inner) = &part.body
            && let Some(d) = inner
                .message_id()
                .and_then(|id| ours.message_id(&format!("<{id}>")))
        {
            return Some(d);
        }
        let is_headers = part.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("text")
                && c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        });
        if is_headers && let Some(text) = part_text(part) {
            for block in blocks(&text) {
                if let Some(d) = field(&block, "message-id").and_then(|id| ours.message_id(id)) {
                    return Some(d);
                }
            }
        }
    }
    None
}

/// Our mark on the mail: the VERP address it came back to, else the
/// original's Message-ID.
fn mark(message: &Message<'_>, ours: &Ours<'_>) -> Option<Mark> {
    addressed_to(message)
        .iter()
        .find_map(|a| ours.verp(a))
        .or_else(|| original_id(message, ours).map(Mark::Digest))
}

fn is_auto_reply(message: &Message<'_>) -> bool {
    let auto = message
        .header_raw("Auto-Submitted")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    auto || [
        "out of office",
        "automatic reply",
        "auto:",
        "autoreply",
        "abwesenheit",
        "vacation",
    ]
    .iter()
    .any(|s| subject.contains(s))
        || message.header_raw("X-Autoreply").is_some()
}

/// The report type of a multipart/report message.
fn report_type(message: &Message<'_>) -> Option<String> {
    let c = message.content_type()?;
    (c.ctype().eq_ignore_ascii_case("multipart")
        && c.subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report")))
    .then(|| {
        c.attribute("report-type")
            .unwrap_or("")
            .to_ascii_lowercase()
    })
}

/// The part of the given type, as text.
fn part_of(message: &Message<'_>, ctype: &str, subtype: &str) -> Option<String> {
    message.parts.iter().find_map(|part| {
        let c = part.content_type()?;
        (c.ctype().eq_ignore_ascii_case(ctype)
            && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case(subtype)))
        .then(|| part_text(part).map(|t| t.into_owned()))
        .flatten()
    })
}

/// What a permanent failure's status and text make of it.
pub(super) fn permanent(status: &str, detail: &str, ours: &Ours<'_>) -> What {
    let sender = format!("{}@{}", ours.verp_user, ours.verp_domain);
    match blame(&format!("{status} {detail}"), Some(&sender)) {
        Blame::Mailbox => What::Hard,
        Blame::Full => What::Soft,
        Blame::Sender | Blame::Other | Blame::Unclear => What::Refused,
    }
}

/// The address in `rfc822; ann@example.org` (or `<ann@example.org>`).
pub(super) fn recipient(field: &str) -> String {
    let value = field.split_once(';').map_or(field, |(_, v)| v);
    value.trim().trim_matches(['<', '>']).to_ascii_lowercase()
}

/// When the report was written, from its Date header.
pub(super) fn date(message: &Message<'_>) -> Option<std::time::SystemTime> {
    let secs = message.date()?.to_timestamp();
    u64::try_from(secs)
        .ok()
        .map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
}

fn dsn(message: &Message<'_>, ours: &Ours<'_>) -> Result<Finding, NotOurs> {
    let report = part_of(message, "message", "delivery-status")
        .ok_or("a delivery report without its status part")?;
    let mark = mark(message, ours).ok_or("a delivery report about mail that is not ours")?;
    // The first block is about the message; the others, one a recipient.
    let mut delayed = false;
    for block in blocks(&report).iter().skip(1) {
        let action = field(block, "action").unwrap_or("").to_ascii_lowercase();
        let status = field(block, "status").unwrap_or("").trim().to_owned();
        let detail = field(block, "diagnostic-code")
            .map(|d| {
                d.split_once(';')
                    .map_or(d, |(_, text)| text)
                    .trim()
                    .to_owned()
            })
            .unwrap_or_else(|| status.clone());
        if action == "delayed" {
            delayed = true;
            continue;
        }
        if action != "failed" {
            continue;
        }
        let what = if status.starts_with('5') {
            permanent(&status, &detail, ours)
        } else if status.starts_with('4') {
            What::Soft
        } else {
            continue;
        };
        let named: Vec<String> = ["final-recipient", "original-recipient"]
            .iter()
            .filter_map(|n| field(block, n))
            .map(recipient)
            .collect();
        let recipients = Recipients::of(named.iter().map(String::as_str));
        return Ok(Finding {
            what,
            mark,
            status,
            detail,
            recipients,
            date: date(message),
        });
    }
    Err(if delayed {
        "a delay report (the mail may still arrive): not counted"
    } else {
        "a delivery report with no failure in it"
    })
}

/// Reads one mail.
pub fn classify(raw: &[u8], ours: &Ours<'_>) -> Result<Finding, NotOurs> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or("not a mail message")?;
    let found = |what, mark| Finding {
        what,
        mark,
        status: String::new(),
        detail: String::new(),
        recipients: Recipients::default(),
        date: date(&message),
    };
    match report_type(&message).as_deref() {
        Some("delivery-status") => return dsn(&message, ours),
        Some("feedback-report") => {
            let abuse = part_of(&message, "message", "feedback-report").is_some_and(|r| {
                blocks(&r).iter().any(|b| {
                    field(b, "feedback-type").is_some_and(|t| t.eq_ignore_ascii_case("abuse"))
                })
            });
            return match (abuse, mark(&message, ours)) {
                (true, Some(mark)) => Ok(found(What::Complaint, mark)),
                (true, None) => Err("a complaint about mail that is not ours"),
                (false, _) => Err("a feedback report that is not a complaint"),
            };
        }
        _ => {}
    }
    if plain::looks_like_bounce(&message) {
        return plain::plain_bounce(&message, ours);
    }
    if is_auto_reply(&message) {
        return Err("an automatic reply");
    }
    // The List-Unsubscribe mailto: `unsubscribe-{token}` in the subject.
    let subject = message.subject().unwrap_or("");
    if let Some(at) = subject.find("unsubscribe-") {
        let token: String = subject[at + "unsubscribe-".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if token.len() >= 20 {
            return Ok(found(What::Unsubscribe, Mark::Token(token)));
        }
    }
    Err("not a bounce, complaint or unsubscribe of ours")
}
