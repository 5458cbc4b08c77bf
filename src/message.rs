//! Rendered parts plus one reader: the email as it goes on the wire, with
//! headers and ids that are deterministic, so the same input gives the same bytes.

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
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<digest@from-domain>`: unique per reader and the same on a resend of
/// the same issue, so a receiving server (and our log) can tell it is one.
pub fn message_id(newsletter: &Newsletter, issue_id: &str, email: &Email) -> String {
    format!(
        "<{}@{}>",
        digest(newsletter.list_id.as_str(), issue_id, email),
        newsletter.from.email.domain()
    )
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

pub fn build(
    newsletter: &Newsletter,
    issue_id: &str,
    parts: &Rendered,
    to: Recipient<'_>,
    date: SystemTime,
) -> Result<Message, MessageError> {
    let id = digest(newsletter.list_id.as_str(), issue_id, to.email);
    let mut builder = Message::builder()
        .from(newsletter.from.clone())
        .to(Mailbox::new(
            to.name.map(|n| n.to_string()),
            to.email.address().clone(),
        ))
        .subject(parts.subject.clone())
        .date(date)
        .message_id(Some(message_id(newsletter, issue_id, to.email)))
        .header(ListIdHeader(list_id_value(newsletter)))
        .header(PrecedenceHeader("bulk".into()));
    if let Some(reply_to) = &newsletter.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    // A fixed boundary keeps the bytes reproducible; lettre's is random.
    let body = MultiPart::alternative()
        .boundary(format!("bulletin-{id}"))
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
    builder.multipart(body).map_err(|source| MessageError {
        to: to.email.to_string(),
        source,
    })
}
