//! One-click unsubscribe (RFC 8058): a token per reader and list that is
//! opaque (the address cannot be read from it) and unforgeable (only the
//! secret makes one), and the links and headers built from it.
//!
//! Confirmation tokens for web sign-ups are made the same way, under
//! another label, with the time of the sign-up sealed in.
//!
//! The token is a deterministic authenticated encryption built from
//! HMAC-SHA256 alone (the SIV construction): `tag` = HMAC(secret, list id,
//! address), truncated to 16 bytes; the address is XORed with an HMAC
//! keystream keyed by the tag. Checking decrypts, recomputes the tag and
//! compares it in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::input::config::{Config, UnsubscribeConfig};
use crate::input::email::Email;

pub(crate) type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 16;

/// The labels that keep the two kinds of token apart.
const UNSUBSCRIBE: &str = "bulletin/unsubscribe";
const CONFIRM: &str = "bulletin/confirm";
const UNDO: &str = "bulletin/undo";

/// Why a confirmation token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not made with this secret for this list, or damaged.
    Invalid,
    /// Genuine, but older than the expiry: made for this address.
    Expired(Email),
}

/// Shown in place of a real token when a dry-run has no secret.
pub const PREVIEW_TOKEN: &str = "PREVIEW-TOKEN-no-secret-set";

pub struct Unsubscriber {
    secret: Option<SecretString>,
    list_id: String,
    url: String,
    mailto: Option<String>,
}

impl Unsubscriber {
    /// `None` without an `[unsubscribe]` section. Without the secret in
    /// the environment it is an error when `need_secret`, and otherwise
    /// (a dry-run) links carry `PREVIEW_TOKEN`.
    pub fn from_config(config: &Config, need_secret: bool) -> anyhow::Result<Option<Self>> {
        let Some(u) = &config.unsubscribe else {
            return Ok(None);
        };
        let secret = std::env::var(&u.secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if secret.is_none() && need_secret {
            anyhow::bail!(
                "the environment variable {} (the unsubscribe secret, [unsubscribe] in {}) is not set",
                u.secret_env,
                config.path.display()
            );
        }
        Ok(Some(Self::new(
            u,
            config.newsletter.list_id.as_str(),
            secret,
        )))
    }

    pub fn new(u: &UnsubscribeConfig, list_id: &str, secret: Option<SecretString>) -> Self {
        Self {
            secret,
            list_id: list_id.to_owned(),
            url: u.url.clone(),
            mailto: u.mailto.clone(),
        }
    }

    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// An HMAC keyed by the secret for another use than tokens (`label`
    /// keeps the uses apart), or `None` without a secret.
    pub(crate) fn keyed(&self, label: &[u8]) -> Option<HmacSha256> {
        let mut mac = self.mac()?;
        mac.update(label);
        mac.update(b"\0");
        Some(mac)
    }

    fn mac(&self) -> Option<HmacSha256> {
        let secret = self.secret.as_ref()?;
        HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).ok()
    }

    /// The tag of `payload` under `label` (16 bytes kept).
    fn tag(&self, label: &str, payload: &[u8]) -> Option<HmacSha256> {
        let mut mac = self.mac()?;
        mac.update(label.as_bytes());
        mac.update(b"/tag\0");
        mac.update(self.list_id.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        Some(mac)
    }

    fn keystream(&self, label: &str, tag: &[u8], len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len + 32);
        let mut block = 0u32;
        while out.len() < len {
            let mut mac = self.mac()?;
            mac.update(label.as_bytes());
            mac.update(b"/stream\0");
            mac.update(tag);
            mac.update(&block.to_be_bytes());
            out.extend_from_slice(&mac.finalize().into_bytes());
            block += 1;
        }
        out.truncate(len);
        Some(out)
    }

    /// `payload` sealed (SIV): the tag, then the payload XORed with a
    /// keystream keyed by the tag. `None` without a secret.
    fn seal(&self, label: &str, payload: &[u8]) -> Option<String> {
        let tag = self.tag(label, payload)?.finalize().into_bytes();
        let tag = &tag[..TAG_LEN];
        let stream = self.keystream(label, tag, payload.len())?;
        let mut raw = tag.to_vec();
        raw.extend(payload.iter().zip(stream).map(|(a, b)| a ^ b));
        Some(URL_SAFE_NO_PAD.encode(raw))
    }

    /// The payload a token sealed under `label`, if this secret and list
    /// sealed it.
    fn open(&self, label: &str, token: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() <= TAG_LEN {
            return None;
        }
        let (tag, sealed) = raw.split_at(TAG_LEN);
        let stream = self.keystream(label, tag, sealed.len())?;
        let payload: Vec<u8> = sealed.iter().zip(stream).map(|(a, b)| a ^ b).collect();
        self.tag(label, &payload)?.verify_truncated_left(tag).ok()?;
        Some(payload)
    }

    /// The reader part of the VERP token of a reader's copy of an issue
    /// (`{reader}-{issue}`, 24 and 8 hex digits keyed by the secret).
    /// `bulletin bounces` finds the reader by computing it for every
    /// address on the list, so it needs no delivery log; hex survives a
    /// relay that folds case. `None` without a secret.
    pub fn verp_reader(&self, email: &Email) -> Option<String> {
        let mut mac = self.keyed(b"bulletin/verp-reader")?;
        mac.update(self.list_id.as_bytes());
        mac.update(b"\0");
        mac.update(email.key().as_bytes());
        Some(hex(&mac.finalize().into_bytes()[..12]))
    }

    /// The issue part of a VERP token.
    pub fn verp_issue(&self, issue_id: &str) -> Option<String> {
        let mut mac = self.keyed(b"bulletin/verp-issue")?;
        mac.update(self.list_id.as_bytes());
        mac.update(b"\0");
        mac.update(issue_id.as_bytes());
        Some(hex(&mac.finalize().into_bytes()[..4]))
    }

    /// The reader's token, or `PREVIEW_TOKEN` without a secret.
    pub fn token(&self, email: &Email) -> String {
        self.seal(UNSUBSCRIBE, email.key().as_bytes())
            .unwrap_or_else(|| PREVIEW_TOKEN.to_owned())
    }

    /// The address a token was made for, if this secret and list made it.
    pub fn verify(&self, token: &str) -> Option<Email> {
        let key = self.open(UNSUBSCRIBE, token)?;
        Email::parse(std::str::from_utf8(&key).ok()?).ok()
    }

    /// A sign-up's confirmation token: the address and the time it was
    /// asked for, sealed under another label than unsubscribe tokens, so
    /// neither passes for the other. `None` without a secret.
    pub fn confirm_token(&self, email: &Email, at: SystemTime) -> Option<String> {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut payload = secs.to_be_bytes().to_vec();
        // As the reader wrote it: the row their confirmation writes keeps
        // their spelling (addresses are compared by `Email::key`).
        payload.extend_from_slice(email.as_str().as_bytes());
        self.seal(CONFIRM, &payload)
    }

    /// The token of an "Undo" button: the address and the time of the
    /// unsubscribe it would undo (Unix seconds), sealed under a label of
    /// its own. Only the page of the press that unsubscribed makes one.
    pub fn undo_token(&self, email: &Email, at: u32) -> Option<String> {
        let mut payload = at.to_be_bytes().to_vec();
        payload.extend_from_slice(email.key().as_bytes());
        self.seal(UNDO, &payload)
    }

    /// The address and unsubscribe time an undo token was made for.
    pub fn verify_undo(&self, token: &str) -> Option<(Email, u32)> {
        let payload = self.open(UNDO, token)?;
        let (at, key) = payload.split_at_checked(4)?;
        let at = u32::from_be_bytes(at.try_into().ok()?);
        let email = Email::parse(std::str::from_utf8(key).ok()?).ok()?;
        Some((email, at))
    }

    /// The address a confirmation token was made for and when its sign-up
    /// was (Unix seconds), if it is genuine and younger than `expiry` at
    /// `now`. The time binds the link to that one sign-up.
    pub fn verify_confirm(
        &self,
        token: &str,
        now: SystemTime,
        expiry: Duration,
    ) -> Result<(Email, u64), TokenError> {
        let payload = self.open(CONFIRM, token).ok_or(TokenError::Invalid)?;
        let (secs, key) = payload.split_at_checked(8).ok_or(TokenError::Invalid)?;
        let secs = u64::from_be_bytes(secs.try_into().map_err(|_| TokenError::Invalid)?);
        let email = std::str::from_utf8(key)
            .ok()
            .and_then(|k| Email::parse(k).ok())
            .ok_or(TokenError::Invalid)?;
        let asked = UNIX_EPOCH + Duration::from_secs(secs);
        if asked + expiry < now {
            return Err(TokenError::Expired(email));
        }
        Ok((email, secs))
    }

    /// Links that name `lang` (`?lang=ja`, or `&lang=ja` after a query of
    /// the configured URL's own), so the pages `serve` shows for them
    /// speak the language of the mail they came in. A URL with a fragment
    /// is left as it is.
    pub fn name_lang(&mut self, lang: &crate::input::lang::Lang) {
        if self.url.contains('#') {
            return;
        }
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!("{}{sep}lang={lang}", self.url);
    }

    /// The one-click link with `PREVIEW_TOKEN` for a token: the real
    /// address, plainly not a reader's.
    pub fn preview_url(&self) -> String {
        self.url.replace("{token}", PREVIEW_TOKEN)
    }

    /// The one-click https link for a reader.
    pub fn url(&self, email: &Email) -> String {
        self.url.replace("{token}", &self.token(email))
    }

    /// `List-Unsubscribe`: the https link, then the mailto one if configured.
    pub fn header(&self, email: &Email) -> String {
        match &self.mailto {
            // The token in the subject: `bulletin bounces` reads it from
            // the mail the reader's client sends.
            Some(m) => format!(
                "<{}>, <mailto:{m}?subject=unsubscribe-{}>",
                self.url(email),
                self.token(email)
            ),
            None => format!("<{}>", self.url(email)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsub(secret: &str, list: &str) -> Unsubscriber {
        let cfg = UnsubscribeConfig {
            url: "https://example.org/u/{token}".into(),
            mailto: Some("leave@example.org".into()),
            secret_env: "UNUSED".into(),
        };
        Unsubscriber::new(&cfg, list, Some(SecretString::from(secret.to_owned())))
    }

    fn email(s: &str) -> Email {
        Email::parse(s).expect("email")
    }

    /// Every way of writing bytes a token could fall back to: the base64
    /// alphabets, padded or not, at each of the three byte alignments, and
    /// hex in both cases. Only the first 8 characters of each, which the
    /// address alone decides.
    fn encodings(address: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let mut out = Vec::new();
        for skip in 0..3 {
            let bytes = &address.as_bytes()[skip..];
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                out.push(engine.encode(bytes)[..8].to_owned());
            }
        }
        let hex: String = address.bytes().map(|b| format!("{b:02x}")).collect();
        out.push(hex[..8].to_owned());
        out.push(hex[..8].to_uppercase());
        out
    }

    #[test]
    fn a_translated_issues_links_name_its_language() {
        let ja = crate::input::lang::Lang::parse("ja").expect("tag");
        let mut u = unsub("s3cret", "digest.example.org");
        let ann = email("ann@example.org");
        let plain = u.url(&ann);
        u.name_lang(&ja);
        assert_eq!(u.url(&ann), format!("{plain}?lang=ja"));
        assert!(
            u.header(&ann)
                .starts_with(&format!("<{plain}?lang=ja>, <mailto:"))
        );
        let mut q = Unsubscriber::new(
            &UnsubscribeConfig {
                url: "https://example.org/u?t={token}".into(),
                mailto: None,
                secret_env: "UNUSED".into(),
            },
            "digest.example.org",
            Some(SecretString::from("s3cret".to_owned())),
        );
        q.name_lang(&ja);
        assert_eq!(
            q.url(&ann),
            format!("https://example.org/u?t={}&lang=ja", q.token(&ann))
        );
    }

    #[test]
    fn a_token_names_its_reader_and_hides_the_address() {
        let u = unsub("s3cret", "digest.example.org");
        let token = u.token(&email("Ann.Lee@Example.org"));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(u.verify(&token), Some(email("ann.lee@example.org")));
        assert_eq!(
            u.token(&email("ann.lee@example.org")),
            token,
            "deterministic"
        );
        for form in ["ann.lee@example.org", "Ann.Lee@example.org", "ann.lee@"] {
            for encoded in encodings(form) {
                assert!(
                    !token.contains(&encoded),
                    "{token} holds {encoded} ({form})"
                );
            }
        }
        // Nor the address's bytes themselves, four in a row.
        let raw = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        for piece in b"ann.lee@example.org".windows(4) {
            assert!(!raw.windows(4).any(|w| w == piece), "{piece:?}");
        }
    }

    /// With one keystream for everyone, two sealed addresses of the same
    /// length would XOR to the XOR of the addresses, and share every byte
    /// where the addresses do (`@example.org`).
    #[test]
    fn addresses_of_the_same_length_give_unrelated_tokens() {
        let u = unsub("s3cret", "digest.example.org");
        let (a, b) = ("ann@example.org", "bob@example.org");
        let ta = URL_SAFE_NO_PAD.decode(u.token(&email(a))).expect("b64");
        let tb = URL_SAFE_NO_PAD.decode(u.token(&email(b))).expect("b64");
        assert_eq!(ta.len(), tb.len());
        let same = ta.iter().zip(&tb).filter(|(x, y)| x == y).count();
        assert!(same <= 3, "{same} of {} bytes in the same place", ta.len());
        let sealed: Vec<u8> = ta[TAG_LEN..]
            .iter()
            .zip(&tb[TAG_LEN..])
            .map(|(x, y)| x ^ y)
            .collect();
        let plain: Vec<u8> = a.bytes().zip(b.bytes()).map(|(x, y)| x ^ y).collect();
        let alike = sealed.iter().zip(&plain).filter(|(x, y)| x == y).count();
        assert!(
            alike <= 3,
            "the sealed parts XOR to the addresses' XOR in {alike} places"
        );
    }

    #[test]
    fn tokens_cannot_be_forged_moved_or_tampered_with() {
        let u = unsub("s3cret", "digest.example.org");
        let token = u.token(&email("ann@example.org"));
        assert_eq!(unsub("other", "digest.example.org").verify(&token), None);
        assert_eq!(unsub("s3cret", "other.example.org").verify(&token), None);
        let mut raw = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(u.verify(&URL_SAFE_NO_PAD.encode(raw)), None);
        assert_eq!(u.verify("not a token"), None);
        assert_eq!(u.verify(""), None);
    }

    #[test]
    fn confirmation_tokens_expire_and_are_no_unsubscribe_tokens() {
        let u = unsub("s3cret", "digest.example.org");
        let ann = email("ann@example.org");
        let day = Duration::from_secs(86_400);
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = u.confirm_token(&ann, at).expect("token");
        assert_eq!(
            u.verify_confirm(&token, at + day, 7 * day),
            Ok((ann.clone(), 1_700_000_000))
        );
        assert_eq!(
            u.verify_confirm(&token, at + 8 * day, 7 * day),
            Err(TokenError::Expired(ann.clone()))
        );
        assert!(!token.contains("ann"));
        // Neither kind passes for the other, nor another secret's.
        assert_eq!(u.verify(&token), None);
        assert_eq!(
            u.verify_confirm(&u.token(&ann), at, 7 * day),
            Err(TokenError::Invalid)
        );
        let other = unsub("other", "digest.example.org");
        assert_eq!(
            other.verify_confirm(&token, at, 7 * day),
            Err(TokenError::Invalid)
        );
    }

    /// Tokens already in readers' mailboxes must keep working: the value
    /// is the one the construction gave before confirmation tokens came
    /// (worked out independently, in Python's hmac).
    #[test]
    fn an_unsubscribe_token_is_the_same_bytes_as_before() {
        let u = unsub("s3cret", "digest.example.org");
        assert_eq!(
            u.token(&email("ann@example.org")),
            "sQ54jymMj4luZxb_NggcDYi5h4yhzxmv-fM4xLvgPA"
        );
    }

    #[test]
    fn the_header_has_the_https_link_then_the_mailto() {
        let u = unsub("s3cret", "digest.example.org");
        let e = email("ann@example.org");
        let h = u.header(&e);
        assert_eq!(
            h,
            format!(
                "<https://example.org/u/{}>, <mailto:leave@example.org?subject=unsubscribe-{}>",
                u.token(&e),
                u.token(&e)
            )
        );
    }
}
