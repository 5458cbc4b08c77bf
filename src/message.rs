//! Rendered parts plus one reader: the email as it goes on the wire, with
//! headers, ids and boundary deterministic, so the same input gives the same bytes.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use crate::config::Newsletter;
use crate::domain::Line;
use crate::render::Rendered;
use crate::subscribers::Email;

/// Who one message goes to.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub email: &'a Email,
    pub name: Option<&'a Line>,
}

/// 32 hex digits that stand for (list, issue, reader).
fn digest(list_id: &str, issue_id: &str, email: &Email) -> String {
    let mut h = Sha256::new();
    for part in ["bulletin/1", list_id, issue_id, &email.key()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..16])
}

macro_rules! text_header {
    ($ty:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        struct $ty(String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok(Self(s.to_owned()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListIdHeader, "List-Id");
text_header!(PrecedenceHeader, "Precedence");

/// `"Name" <list.id>` (RFC 2919). A non-ASCII name is left out rather than
/// encoded: the label is optional, the id is what filters match.
fn list_id_value(newsletter: &Newsletter) -> String {
    let name = newsletter.name.as_str();
    if name.is_ascii() {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{}>", newsletter.list_id)
    } else {
        format!("<{}>", newsletter.list_id)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the message to {to}: {source}")]
pub struct MessageError {
    to: String,
    source: lettre::error::Error,
}

/// Everything of a message that is the same for every reader, encoded
/// once per issue: encoding the parts is most of the cost of a message.
#[derive(Debug, Clone)]
pub struct Template {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    subject: String,
    list_id: String,
    issue_id: String,
    list_id_value: String,
    domain: String,
    body: MultiPart,
}

impl Template {
    pub fn new(newsletter: &Newsletter, issue_id: &str, parts: &Rendered) -> Self {
        // One boundary per issue, fixed so the bytes are reproducible
        // (lettre's own is random); the parts are the same for every reader.
        let boundary = {
            let mut h = Sha256::new();
            for part in ["bulletin/boundary/1", newsletter.list_id.as_str(), issue_id] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            hex(&h.finalize()[..16])
        };
        let body = MultiPart::alternative()
            .boundary(format!("bulletin-{boundary}"))
            .singlepart(
                SinglePart::builder()
                    .content_type(ContentType::TEXT_PLAIN)
                    .body(parts.text.clone()),
            )
            .singlepart(
                SinglePart::builder()
                    .content_type(ContentType::TEXT_HTML)
                    .body(parts.html.clone()),
            );
        Self {
            from: newsletter.from.clone(),
            reply_to: newsletter.reply_to.clone(),
            subject: parts.subject.clone(),
            list_id: newsletter.list_id.as_str().to_owned(),
            issue_id: issue_id.to_owned(),
            list_id_value: list_id_value(newsletter),
            domain: newsletter.from.email.domain().to_owned(),
            body,
        }
    }

    /// The envelope sender (MAIL FROM).
    pub fn from_address(&self) -> &lettre::Address {
        &self.from.email
    }

    /// `<digest@from-domain>`: unique per reader and the same on a resend
    /// of the same issue, so a receiving server (and our log) can tell it is one.
    pub fn message_id(&self, email: &Email) -> String {
        format!(
            "<{}@{}>",
            digest(&self.list_id, &self.issue_id, email),
            self.domain
        )
    }

    /// The message for one reader.
    pub fn build(&self, to: Recipient<'_>, date: SystemTime) -> Result<Message, MessageError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(
                to.name.map(|n| n.to_string()),
                to.email.address().clone(),
            ))
            .subject(self.subject.clone())
            .date(date)
            .message_id(Some(self.message_id(to.email)))
            .header(ListIdHeader(self.list_id_value.clone()))
            .header(PrecedenceHeader("bulk".into()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .multipart(self.body.clone())
            .map_err(|source| MessageError {
                to: to.email.to_string(),
                source,
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}
