//! What one returned mail is: a delivery status notification (RFC 3464),
//! a complaint (ARF, RFC 5965), a reader's mailed unsubscribe, or none of
//! ours. Pure: bytes in, a finding out.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// How a message points at the mail we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// The 32-hex digest of our Message-ID: from the VERP address the mail
    /// came back to, or the returned original's Message-ID.
    Digest(String),
    /// A reader's unsubscribe token (from the mailto's subject).
    Token(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A permanent failure: `Action: failed` with a 5.x.x status.
    Hard {
        mark: Mark,
        status: String,
        detail: String,
    },
    /// A temporary one: `delayed`, or a 4.x.x status.
    Soft {
        mark: Mark,
        status: String,
        detail: String,
    },
    /// `Feedback-Type: abuse`.
    Complaint { mark: Mark },
    /// Mail to the List-Unsubscribe mailto.
    Unsubscribe { mark: Mark },
    /// Not a bounce or complaint of ours (an out-of-office reply, a
    /// stranger's mail), or nothing in it says which message it is about:
    /// left as it is.
    NotOurs(&'static str),
}

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
    /// The digest in `bounces+{digest}@domain`, any case.
    fn verp(&self, address: &str) -> Option<String> {
        let address = address.trim().trim_matches(['<', '>']);
        let (local, domain) = address.rsplit_once('@')?;
        let (user, digest) = local.split_once('+')?;
        (user.eq_ignore_ascii_case(self.verp_user)
            && domain.eq_ignore_ascii_case(self.verp_domain)
            && is_hex32(digest))
        .then(|| digest.to_ascii_lowercase())
    }

    /// The digest in `<{digest}@id-domain>`.
    fn message_id(&self, id: &str) -> Option<String> {
        let (digest, domain) = id.trim().trim_matches(['<', '>']).split_once('@')?;
        (domain.eq_ignore_ascii_case(self.id_domain) && is_hex32(digest))
            .then(|| digest.to_ascii_lowercase())
    }
}

/// The headers a mail was addressed by on its way to the mailbox.
fn addressed_to(message: &Message<'_>) -> Vec<String> {
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
        .or_else(|| original_id(message, ours))
        .map(Mark::Digest)
}

fn is_auto_reply(message: &Message<'_>) -> bool {
    let auto = message
        .header_raw("Auto-Submitted")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("auto-replied"));
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

/// An enhanced status code (`5.1.1`) at the start of `text`'s words.
fn status_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')')
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

fn dsn(message: &Message<'_>, ours: &Ours<'_>) -> Finding {
    let Some(report) = part_of(message, "message", "delivery-status") else {
        return Finding::NotOurs("a delivery report without its status part");
    };
    let Some(mark) = mark(message, ours) else {
        return Finding::NotOurs("a delivery report about mail that is not ours");
    };
    // The first block is about the message; the others, one a recipient.
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
        if action == "failed" && status.starts_with('5') {
            return Finding::Hard {
                mark,
                status,
                detail,
            };
        }
        if action == "delayed" || (action == "failed" && status.starts_with('4')) {
            return Finding::Soft {
                mark,
                status,
                detail,
            };
        }
    }
    Finding::NotOurs("a delivery report with no failure in it")
}

/// Reads one mail.
pub fn classify(raw: &[u8], ours: &Ours<'_>) -> Finding {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Finding::NotOurs("not a mail message");
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
                (true, Some(mark)) => Finding::Complaint { mark },
                (true, None) => Finding::NotOurs("a complaint about mail that is not ours"),
                (false, _) => Finding::NotOurs("a feedback report that is not a complaint"),
            };
        }
        _ => {}
    }
    if is_auto_reply(&message) {
        return Finding::NotOurs("an automatic reply");
    }
    // The List-Unsubscribe mailto: `unsubscribe-{token}` in the subject.
    let subject = message.subject().unwrap_or("");
    if let Some(at) = subject.find("unsubscribe-") {
        let token: String = subject[at + "unsubscribe-".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if token.len() >= 20 {
            return Finding::Unsubscribe {
                mark: Mark::Token(token),
            };
        }
    }
    // A bounce in free text counts only with our VERP address on it and a
    // clear permanent failure about the mailbox in its words.
    let verp = addressed_to(&message).iter().find_map(|a| ours.verp(a));
    let lower = subject.to_ascii_lowercase();
    let looks_like_bounce = [
        "undeliverable",
        "undelivered",
        "delivery status notification",
        "delivery failure",
        "delivery has failed",
        "returned mail",
        "failure notice",
        "mail delivery failed",
    ]
    .iter()
    .any(|s| lower.contains(s));
    if let (Some(digest), true) = (verp, looks_like_bounce) {
        let body = message.body_text(0).unwrap_or_default();
        if let Some(status) = status_code(&body).filter(|s| s.starts_with("5.1.") || s == "5.2.1") {
            let detail = body
                .lines()
                .find(|l| l.contains(&status))
                .unwrap_or("")
                .trim()
                .to_owned();
            return Finding::Hard {
                mark: Mark::Digest(digest),
                status,
                detail,
            };
        }
        return Finding::NotOurs("a bounce in free text without a clear permanent failure");
    }
    Finding::NotOurs("not a bounce, complaint or unsubscribe of ours")
}
