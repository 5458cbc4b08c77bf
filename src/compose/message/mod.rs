//! Rendered parts plus one reader: the email as it goes on the wire, with
//! headers, ids and boundary deterministic, so the same input gives the same bytes.

mod ids;
use ids::id_key;
mod langs;

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use crate::audience::unsubscribe::{HmacSha256, Unsubscriber};
use crate::compose::dkim::Signer;
use crate::compose::encoded::Encoded;

use crate::compose::headers::{
    ContentLanguageHeader, FeedbackIdHeader, ListIdHeader, ListUnsubscribeHeader,
    ListUnsubscribePostHeader, PrecedenceHeader, list_id_value,
};
use crate::compose::personal::{FieldNames, Personal, Unfilled};
use crate::compose::render::{LINK, Part, Rendered, as_html, as_typed, html_attr};
use crate::input::checked::Line;
use crate::input::config::Newsletter;
use crate::input::email::Email;

/// Who one message goes to.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub email: &'a Email,
    pub name: Option<&'a Line>,
    /// The reader's row, for an issue with per-reader fields.
    pub row: Option<&'a std::sync::Arc<[Box<str>]>>,
}

/// A fingerprint of what readers get: the parts every message shares.
fn fingerprint(parts: &Rendered, from: &str) -> String {
    let mut h = Sha256::new();
    let text = parts.text.with(LINK);
    // A text-only issue's missing part hashes as a mark no HTML can be.
    let html = parts
        .html
        .as_ref()
        .map_or_else(|| "\0text-only".to_owned(), |h| h.with(LINK));
    for part in [parts.subject.as_str(), &text, &html, from] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..16])
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the message to {to}: {why}")]
pub struct MessageError {
    to: String,
    why: String,
}

/// Everything of a message that is the same for every reader, encoded
/// once per issue: encoding the parts is most of the cost of a message.
pub struct Template {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// With fields' marks, when the subject holds any.
    subject: Part,
    list_id: String,
    issue_id: String,
    list_id_value: String,
    /// `Feedback-ID`, when `[newsletter] sender_id` is set.
    feedback_id: Option<String>,
    domain: String,
    boundary: String,
    text: Encoded,
    /// None for a text-only issue: its one part is `text`.
    html: Option<Encoded>,
    /// The masthead's logo, base64-encoded once, with its type: carried
    /// beside the HTML (`multipart/related`) of every message.
    logo: Option<(Body, ContentType)>,
    unsubscribe: Option<Unsubscriber>,
    dkim: Option<Signer>,
    /// `[bounces] address` (the envelope sender's base for VERP) and,
    /// with a secret, the issue's part of every VERP token, made once.
    bounces: Option<(lettre::Address, Option<String>)>,
    /// What readers get, as `fingerprint`: part of every Message-ID, so an
    /// edited issue sent with `--force` gets new ids.
    fingerprint: String,
    ids: HmacSha256,
    /// The issue's per-reader fields and the list's names for them.
    personal: Option<(Personal, std::sync::Arc<FieldNames>)>,
    /// The language it is written in (`Content-Language`).
    lang: crate::input::lang::Lang,
    /// The issue in other languages (`[lang.<tag>]`), each a whole
    /// template: a reader gets the one of their language.
    translations: Vec<Template>,
}

impl Template {
    pub fn new(
        newsletter: &Newsletter,
        issue_id: &str,
        parts: &Rendered,
        unsubscribe: Option<Unsubscriber>,
        dkim: Option<Signer>,
    ) -> Self {
        // One boundary per issue, fixed so the bytes are reproducible
        // (lettre's own is random); the parts are the same for every reader.
        let boundary = {
            let mut h = Sha256::new();
            for part in ["bulletin/boundary/1", newsletter.list_id.as_str(), issue_id] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            format!("bulletin-{}", hex(&h.finalize()[..16]))
        };
        Self {
            // What readers get includes the logo (as its digest), when
            // there is one.
            fingerprint: fingerprint(
                parts,
                &match &newsletter.logo {
                    Some(l) => format!("{} logo:{}", newsletter.from, l.image.digest),
                    None => newsletter.from.to_string(),
                },
            ),
            ids: id_key(unsubscribe.as_ref()),
            // Addresses in headers and the envelope as on the wire: an
            // international domain as its A-label.
            from: Mailbox::new(
                newsletter.from.name.clone(),
                crate::input::email::ascii_domain(&newsletter.from.email).into_owned(),
            ),
            reply_to: newsletter.reply_to.clone(),
            subject: Part::split(parts.subject.clone()),
            list_id: newsletter.list_id.as_str().to_owned(),
            issue_id: issue_id.to_owned(),
            list_id_value: list_id_value(newsletter),
            feedback_id: None,
            domain: crate::input::email::ascii_domain(&newsletter.from.email)
                .domain()
                .to_owned(),
            boundary,
            text: Encoded::new(&parts.text, as_typed),
            html: parts.html.as_ref().map(|h| Encoded::new(h, as_html)),
            logo: newsletter
                .logo
                .as_ref()
                .filter(|_| parts.html.is_some())
                .and_then(|l| {
                    let kind = ContentType::parse(l.mime()).ok()?;
                    let body =
                        Body::new_with_encoding(l.bytes.to_vec(), ContentTransferEncoding::Base64)
                            .ok()?;
                    Some((body, kind))
                }),
            unsubscribe,
            dkim: None,
            bounces: None,
            personal: None,
            lang: newsletter.lang.clone(),
            translations: Vec::new(),
        }
        .signed_by(dkim)
    }

    /// Fills in each reader's fields (`Personal`), named as the list's
    /// columns (`FieldNames`) name them.
    #[must_use]
    pub fn with_fields(mut self, personal: Personal, names: FieldNames) -> Self {
        self.personal = Some((personal, std::sync::Arc::new(names)));
        self
    }

    /// The fields used without `default` somewhere, each with the
    /// `file:line` of its first such use.
    pub fn required_fields(&self) -> Vec<(String, String)> {
        self.personal
            .as_ref()
            .map(|(p, _)| p.required())
            .unwrap_or_default()
    }

    /// The fields the issue uses, by name.
    pub fn field_names(&self) -> Vec<&str> {
        self.personal
            .as_ref()
            .map(|(p, _)| p.fields().into_iter().collect())
            .unwrap_or_default()
    }

    /// Whether messages differ per reader by more than their headers and
    /// link.
    pub fn is_personal(&self) -> bool {
        self.personal.is_some() || self.translations.iter().any(Template::is_personal)
    }

    /// A reader's values for the fields (none for an issue without): from
    /// their row, or for a copy to someone not on the list (`row` none)
    /// each field's default or nothing.
    pub fn values(&self, to: Recipient<'_>) -> Result<Vec<String>, Unfilled> {
        match (&self.personal, to.row) {
            (None, _) => Ok(Vec::new()),
            (Some((p, names)), Some(row)) => p.values(names, to.email, row),
            (Some((p, _)), None) => Ok(p.blank_values()),
        }
    }

    /// The same with the list's columns as `names` gives them (a list
    /// rewritten since the template was made).
    pub fn values_in(
        &self,
        names: &FieldNames,
        to: Recipient<'_>,
    ) -> Result<Vec<String>, Unfilled> {
        match (&self.personal, to.row) {
            (Some((p, _)), Some(row)) => {
                p.values(&std::sync::Arc::new(names.clone()), to.email, row)
            }
            _ => self.values(to),
        }
    }

    /// The subject as rendered, with fields' marks.
    pub fn subject_source(&self) -> String {
        self.subject.source.clone()
    }

    /// The subject with a reader's `values`.
    pub fn subject_for(&self, values: &[String]) -> String {
        self.subject.fill("", values, as_typed)
    }

    /// Gmail's `Feedback-ID` on every message (`headers::feedback_id`).
    #[must_use]
    pub fn with_feedback_id(mut self, value: String) -> Self {
        self.feedback_id = Some(value);
        self
    }

    /// Hands the signer the start of the body every message shares (the
    /// text part up to the reader's line), so that each message hashes
    /// only the rest.
    fn signed_by(mut self, dkim: Option<Signer>) -> Self {
        self.dkim = dkim.map(|signer| {
            let prefix = self.shared_body_start();
            signer.with_body_prefix(&prefix)
        });
        self
    }

    /// The bytes every message's body starts with: the first boundary,
    /// the text part's header and its lines before the reader's (for a
    /// text-only issue, whose one part is the body, those lines alone).
    fn shared_body_start(&self) -> Vec<u8> {
        if self.html.is_none() {
            return self.text.shared_start().to_vec();
        }
        let empty =
            Body::dangerous_pre_encoded(Vec::new(), ContentTransferEncoding::QuotedPrintable);
        let part = text_part(empty).formatted();
        let header_end = memchr::memmem::find(&part, b"\r\n\r\n").map_or(part.len(), |i| i + 4);
        let mut out = format!("--{}\r\n", self.boundary).into_bytes();
        out.extend_from_slice(&part[..header_end]);
        out.extend_from_slice(self.text.shared_start());
        out
    }

    /// The envelope sender (MAIL FROM), its domain as an A-label.
    pub fn from_address(&self) -> &lettre::Address {
        &self.from.email
    }

    /// A fingerprint of what every reader gets (subject, parts, sender):
    /// the delivery log keeps it to notice an issue edited mid-send.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether messages are DKIM-signed.
    pub fn is_signed(&self) -> bool {
        self.dkim.is_some()
    }

    /// Whether unsubscribe links carry real tokens (not the preview one).
    pub fn has_unsubscribe_secret(&self) -> bool {
        self.unsubscribe
            .as_ref()
            .is_some_and(Unsubscriber::has_secret)
    }

    /// The reader's one-click unsubscribe link, if the list has them.
    pub fn unsubscribe_url(&self, email: &Email) -> Option<String> {
        self.unsubscribe.as_ref().map(|u| u.url(email))
    }

    /// The unsubscribe link with a visible placeholder token: what a
    /// preview for nobody in particular shows.
    pub fn preview_unsubscribe_url(&self) -> Option<String> {
        self.unsubscribe.as_ref().map(|u| u.preview_url())
    }

    /// The message for one reader as bytes for the wire, DKIM-signed when
    /// configured.
    pub fn build(&self, to: Recipient<'_>, date: SystemTime) -> Result<Vec<u8>, MessageError> {
        self.build_with_id(to, date, self.message_id(to.email))
    }

    /// The same with another Message-ID (a test copy's).
    pub fn build_with_id(
        &self,
        to: Recipient<'_>,
        date: SystemTime,
        id: String,
    ) -> Result<Vec<u8>, MessageError> {
        let values = self.values(to).map_err(|why| MessageError {
            to: to.email.to_string(),
            why: why.to_string(),
        })?;
        self.build_filled(to, date, id, &values)
    }

    /// The message with the reader's field values already found
    /// (`values`).
    pub fn build_filled(
        &self,
        to: Recipient<'_>,
        date: SystemTime,
        id: String,
        values: &[String],
    ) -> Result<Vec<u8>, MessageError> {
        self.build_message(to, date, id, values, self.subject_for(values))
    }

    /// The message with `subject` instead of the issue's (a test copy's
    /// is marked).
    pub fn build_message(
        &self,
        to: Recipient<'_>,
        date: SystemTime,
        id: String,
        values: &[String],
        subject: String,
    ) -> Result<Vec<u8>, MessageError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(
                to.name.map(|n| n.to_string()),
                to.email.envelope().into_owned(),
            ))
            .subject(subject)
            .date(date)
            .message_id(Some(id))
            .header(ContentLanguageHeader(self.lang.to_string()))
            .header(ListIdHeader(self.list_id_value.clone()))
            .header(PrecedenceHeader("bulk".into()));
        if let Some(feedback) = &self.feedback_id {
            builder = builder.header(FeedbackIdHeader(feedback.clone()));
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let url = self.unsubscribe_url(to.email).unwrap_or_default();
        if let Some(u) = &self.unsubscribe {
            builder = builder
                .header(ListUnsubscribeHeader(u.header(to.email)))
                .header(ListUnsubscribePostHeader(
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let text = text_part(self.text.body(&url, values));
        let message = match &self.html {
            Some(html) => {
                let html = SinglePart::builder()
                    .content_type(ContentType::TEXT_HTML)
                    .body(html.body(&html_attr(&url), values));
                let alternative = MultiPart::alternative()
                    .boundary(self.boundary.clone())
                    .singlepart(text);
                builder.multipart(match &self.logo {
                    None => alternative.singlepart(html),
                    // The HTML and the logo it shows by `cid:`, together.
                    Some((logo, kind)) => alternative.multipart(
                        MultiPart::related()
                            .boundary(format!("{}-related", self.boundary))
                            .singlepart(html)
                            .singlepart(
                                lettre::message::Attachment::new_inline(
                                    crate::compose::render::LOGO_CID.to_owned(),
                                )
                                .body(logo.clone(), kind.clone()),
                            ),
                    ),
                })
            }
            None => builder.singlepart(text),
        };
        let bytes = message
            .map_err(|e| MessageError {
                to: to.email.to_string(),
                why: e.to_string(),
            })?
            .formatted();
        match &self.dkim {
            Some(signer) => signer.sign(&bytes, date).map_err(|why| MessageError {
                to: to.email.to_string(),
                why,
            }),
            None => Ok(bytes),
        }
    }
}

fn text_part(body: Body) -> SinglePart {
    SinglePart::builder()
        .content_type(ContentType::TEXT_PLAIN)
        .body(body)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = bytes.iter().flat_map(|b| [b >> 4, b & 15]);
    digits.map(|d| char::from(DIGITS[usize::from(d)])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::issue::Format;

    /// The signer's shared start must be what messages really start with,
    /// or every message is hashed whole (right, but slower).
    #[test]
    fn every_body_starts_with_the_shared_start_the_signer_is_given() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = crate::input::config::Config::load(&root.join("config.toml")).expect("config");
        let mut issue =
            crate::input::issue::Issue::load(&root.join("issues/2022-08-01.toml")).expect("issue");
        for format in [Format::Html, Format::Text] {
            issue.format = Some(format);
            let parts =
                crate::compose::render::render(&config.newsletter, &issue, true).expect("render");
            let template = Template::new(&config.newsletter, &issue.id, &parts, None, None);
            let start = template.shared_body_start();
            // The text part's header and boundary too, with an HTML part.
            let framing = if format == Format::Html { 100 } else { 0 };
            assert!(start.len() > framing + 100, "{format:?}");
            assert!(start.len() >= template.text.shared_start().len() + framing);
            for address in ["ann@example.org", "bob@example.net"] {
                let email = Email::parse(address).expect("email");
                let to = Recipient {
                    email: &email,
                    name: None,
                    row: None,
                };
                let message = template.build(to, SystemTime::UNIX_EPOCH).expect("build");
                let split = memchr::memmem::find(&message, b"\r\n\r\n").expect("a body") + 4;
                assert!(
                    message[split..].starts_with(&start),
                    "{format:?}: {}",
                    String::from_utf8_lossy(&message[split..split + 200])
                );
            }
        }
    }
}
