//! Which message is which, and where its bounce goes: keyed Message-IDs
//! (unique per reader, the same on a resend, new for an edited issue) and
//! the envelope sender, per reader with VERP.

use hmac::Mac;

use super::{Template, hex};
use crate::audience::unsubscribe::{HmacSha256, Unsubscriber};
use crate::input::email::Email;

/// The key Message-IDs are made with: the unsubscribe secret's (so an id
/// says nothing of the address to someone without it), or without one a
/// random key of this run's (ids then differ from run to run).
pub(super) fn id_key(unsubscribe: Option<&Unsubscriber>) -> HmacSha256 {
    const LABEL: &[u8] = b"bulletin/message-id/2";
    if let Some(mac) = unsubscribe.and_then(|u| u.keyed(LABEL)) {
        return mac;
    }
    let key: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    let mut mac = HmacSha256::new_from_slice(&key).unwrap_or_else(|_| {
        // HMAC takes a key of any length; this cannot happen.
        HmacSha256::new_from_slice(b"bulletin").expect("a fixed key")
    });
    mac.update(LABEL);
    mac.update(b"\0");
    mac
}

impl Template {
    /// Envelope senders per message (VERP) under `address`.
    #[must_use]
    pub fn with_bounces(mut self, address: &Email) -> Self {
        let issue = self
            .unsubscribe
            .as_ref()
            .and_then(|u| u.verp_issue(&self.issue_id));
        self.bounces = Some((address.envelope().into_owned(), issue));
        self
    }

    /// The envelope sender (MAIL FROM, hence Return-Path) of `email`'s
    /// message: with `[bounces]`, `bounces+{token}@domain`. The token is
    /// `{reader}-{issue}` (`Unsubscriber::verp_reader`: found again from
    /// the list alone) when there is a secret, else the Message-ID's
    /// digest (found again through the delivery logs); either way within
    /// the 64 octets a local part may have. Else the From address.
    pub fn return_path(
        &self,
        email: &Email,
        message_id: &str,
    ) -> std::borrow::Cow<'_, lettre::Address> {
        let from = std::borrow::Cow::Borrowed(&self.from.email);
        let Some((base, issue)) = &self.bounces else {
            return from;
        };
        let token = match (&self.unsubscribe, issue) {
            (Some(u), Some(issue)) => u.verp_reader(email).map(|r| format!("{r}-{issue}")),
            _ => None,
        }
        .unwrap_or_else(|| {
            message_id
                .trim_start_matches('<')
                .split('@')
                .next()
                .unwrap_or("")
                .to_owned()
        });
        if token.is_empty() {
            return from;
        }
        lettre::Address::new(format!("{}+{token}", base.user()), base.domain())
            .map_or(from, std::borrow::Cow::Owned)
    }
    /// 32 hex digits, keyed, that stand for (list, issue, content, reader,
    /// and `salt`).
    fn digest(&self, email: &Email, salt: &[u8]) -> String {
        let mut mac = self.ids.clone();
        for part in [
            self.list_id.as_bytes(),
            self.issue_id.as_bytes(),
            self.fingerprint.as_bytes(),
            email.key().as_bytes(),
            salt,
        ] {
            mac.update(part);
            mac.update(b"\0");
        }
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// `<digest@from-domain>`: unique per reader, the same on a resend of
    /// the same message (so a receiving server can drop a duplicate), new
    /// when the issue changed. Keyed, so it does not reveal the address.
    pub fn message_id(&self, email: &Email) -> String {
        format!("<{}@{}>", self.digest(email, b""), self.domain)
    }

    /// A test copy's id: new for every copy, so that neither an earlier
    /// test copy nor the reader's real copy is taken for a duplicate of it.
    pub fn test_copy_id(&self, email: &Email) -> String {
        let nonce = fastrand::u128(..).to_le_bytes();
        format!("<test.{}@{}>", self.digest(email, &nonce), self.domain)
    }
}
