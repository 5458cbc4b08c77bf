//! DKIM signing (RFC 6376, and RFC 8463 for Ed25519): the key read and
//! checked once, relaxed/relaxed canonicalisation, and one signature per
//! message made by AWS-LC (aws-lc-rs), in constant time.
//!
//! Our own thin layer rather than lettre's `dkim` feature: lettre signs RSA
//! with the `rsa` crate, which measured half of OpenSSL's speed and carries
//! RUSTSEC-2023-0071 (Marvin: not constant-time). AWS-LC rather than ring:
//! it has OpenSSL's AVX-512 IFMA RSA code, about twice ring's speed on the
//! CPUs that have it (Cargo.toml). dkimpy verifies what this signs (tests).

use std::path::Path;
use std::sync::LazyLock;
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use memchr::memmem;
use sha2::{Digest, Sha256};

use crate::input::config::DkimSettings;

/// The headers signed, in this order, each one more time than it occurs
/// ("oversigned", RFC 6376 8.15): the extra one signs an absent field, so
/// a copy replayed with one more Subject, To or List-Unsubscribe (shown to
/// the reader instead of ours) no longer verifies.
const SIGNED: [&str; 14] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "cc",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
];

/// Signed as absent even when the message has none, so none can be
/// added: where replies go, and who else it claims to be for.
const SIGNED_IF_ABSENT: [&str; 2] = ["reply-to", "cc"];

enum Key {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// Signs messages for one domain and selector.
pub struct Signer {
    domain: String,
    selector: String,
    key: Key,
    rng: SystemRandom,
    prefix: Option<BodyPrefix>,
}

impl Signer {
    /// What the selector's DNS record must say of the key: `k=` and the
    /// public key as `p=` carries it (base64; RSA as SubjectPublicKeyInfo,
    /// Ed25519 as its 32 bytes, RFC 8463).
    pub fn public_record(&self) -> (&'static str, String) {
        use aws_lc_rs::signature::KeyPair;
        match &self.key {
            Key::Rsa(k) => {
                use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
                let der: Option<PublicKeyX509Der<'static>> = k.public_key().as_der().ok();
                (
                    "rsa",
                    der.map_or_else(String::new, |d| STANDARD.encode(d.as_ref())),
                )
            }
            Key::Ed25519(k) => ("ed25519", STANDARD.encode(k.public_key().as_ref())),
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }
}

/// The start of the body every message of an issue shares, with the body
/// hash's state after it: each message then hashes only the rest.
/// SHA-256 is sequential, so only a shared *prefix* can be saved.
struct BodyPrefix {
    bytes: Vec<u8>,
    state: Sha256,
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64).ok()
}

/// Reads the key: RSA as PKCS#1 (`openssl genrsa`) or PKCS#8 (`openssl
/// genpkey`) PEM, or Ed25519 as PKCS#8 PEM.
pub fn load(settings: &DkimSettings) -> anyhow::Result<Signer> {
    let path: &Path = &settings.private_key;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the DKIM key: {e}", path.display()))?;
    let der = pem_der(&pem);
    let key = match (der, pem.contains("BEGIN RSA PRIVATE KEY")) {
        (Some(der), true) => RsaKeyPair::from_der(&der).map(Key::Rsa).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a usable RSA key ({e}); DKIM wants 2048 to 4096 bits",
                path.display()
            )
        })?,
        (Some(der), false) if pem.contains("BEGIN PRIVATE KEY") => {
            match RsaKeyPair::from_pkcs8(&der) {
                Ok(rsa) => Key::Rsa(rsa),
                Err(rsa_err) => match Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                    Ok(ed) => Key::Ed25519(ed),
                    Err(_) => anyhow::bail!(
                        "{}: a PKCS#8 key that is neither a usable RSA key ({rsa_err}; 2048 to 4096 bits) nor Ed25519",
                        path.display()
                    ),
                },
            }
        }
        _ => anyhow::bail!(
            "{}: not a PEM private key (expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)",
            path.display()
        ),
    };
    Ok(Signer {
        domain: settings.domain.clone(),
        selector: settings.selector.clone(),
        key,
        rng: SystemRandom::new(),
        prefix: None,
    })
}

/// A header field in relaxed form (RFC 6376 3.4.2): name lower-cased,
/// unfolded, runs of white space made one space, none around the colon or
/// at the end. `field` is the whole field, folding included, without its
/// final CRLF.
fn relaxed_header(field: &[u8], out: &mut Vec<u8>) {
    let (name, value) = match field.iter().position(|&b| b == b':') {
        Some(at) => (&field[..at], &field[at + 1..]),
        None => (field, &[][..]),
    };
    out.extend(name.trim_ascii_end().iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let start = out.len();
    let mut space = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && out.len() > start {
                    out.push(b' ');
                }
                space = false;
                out.push(b);
            }
        }
    }
}

/// The body in relaxed form (RFC 6376 3.4.4), hashed: white space at line
/// ends dropped, runs made one space, empty lines at the end dropped.
/// Most lines (quoted-printable never ends one in a space) are already in
/// relaxed form: runs of them are hashed straight from the message, in one
/// update, and only the others are rewritten.
#[cfg(test)]
fn relaxed_body_hash(body: &[u8]) -> [u8; 32] {
    relaxed_body_hash_from(body, None)
}

/// The same, resumed after `prefix` when the body starts with it. The
/// relaxed form works line by line and a prefix ends at a line end, so
/// the state after it is the same whatever follows, provided the body goes
/// on past it (empty lines at the very end are the one rule that looks
/// ahead).
fn relaxed_body_hash_from(body: &[u8], prefix: Option<&BodyPrefix>) -> [u8; 32] {
    let end = relaxed_end(body);
    let (mut hash, mut start) = match prefix {
        Some(p) if end > p.bytes.len() && body.starts_with(&p.bytes) => {
            (p.state.clone(), p.bytes.len())
        }
        _ => (Sha256::new(), 0),
    };
    let body = &body[..end];
    let mut clean_from = start;
    let mut line = Vec::new();
    while start < body.len() {
        let stop = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i + 1);
        let raw = &body[start..stop];
        if !in_relaxed_form(raw) {
            hash.update(&body[clean_from..start]);
            relax_line(raw, &mut line);
            hash.update(&line);
            clean_from = stop;
        }
        start = stop;
    }
    hash.update(&body[clean_from..]);
    hash.finalize().into()
}

/// The hash state after the whole lines of `bytes`, in relaxed form.
fn prefix_state(bytes: &[u8]) -> Sha256 {
    let mut hash = Sha256::new();
    let mut line = Vec::new();
    for raw in bytes.split_inclusive(|&b| b == b'\n') {
        if in_relaxed_form(raw) {
            hash.update(raw);
        } else {
            relax_line(raw, &mut line);
            hash.update(&line);
        }
    }
    hash
}

/// Where the body ends once the lines that are empty in relaxed form (no
/// character but white space) are dropped from its end.
fn relaxed_end(body: &[u8]) -> usize {
    let mut end = body.len();
    loop {
        let line_start = match end {
            0 => return 0,
            _ => memchr::memrchr(b'\n', &body[..end - 1]).map_or(0, |i| i + 1),
        };
        let line = &body[line_start..end];
        if line
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            end = line_start;
        } else {
            return end;
        }
    }
}

/// Whether a line (with its line end) is unchanged by relaxed
/// canonicalisation: it ends in CRLF, with no tab, no two spaces in a row
/// and no space before the CRLF.
fn in_relaxed_form(line: &[u8]) -> bool {
    let Some(text) = line.strip_suffix(b"\r\n") else {
        return false;
    };
    // Built once: `memmem::find` would build a searcher for every line.
    static TWO_SPACES: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"  "));
    !text.ends_with(b" ")
        && memchr::memchr(b'\t', text).is_none()
        && TWO_SPACES.find(text).is_none()
}

/// One line in relaxed form, CRLF-ended, into `out`.
fn relax_line(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let mut space = false;
    for &b in text {
        if b == b' ' || b == b'\t' {
            space = true;
        } else {
            if space {
                out.push(b' ');
            }
            space = false;
            out.push(b);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The fields of a header block, each as its bytes without the final CRLF.
fn fields(head: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < head.len() {
        let end = memchr::memchr(b'\n', &head[at..]).map_or(head.len(), |i| at + i + 1);
        // A line starting with white space continues the field before it.
        let next_continues = head.get(end).is_some_and(|b| *b == b' ' || *b == b'\t');
        if !next_continues {
            let field = &head[start..end];
            let field = field.strip_suffix(b"\n").unwrap_or(field);
            let field = field.strip_suffix(b"\r").unwrap_or(field);
            if !field.is_empty() {
                out.push(field);
            }
            start = end;
        }
        at = end;
    }
    out
}

fn field_name(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    field[..end].trim_ascii_end()
}

impl Signer {
    /// Hashes the body's start that every message will share once, here:
    /// its whole lines. A message whose body does not start with it is
    /// hashed whole, so a wrong prefix costs time, never a bad signature.
    #[must_use]
    pub fn with_body_prefix(mut self, bytes: &[u8]) -> Self {
        let whole_lines = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
        let bytes = bytes[..whole_lines].to_vec();
        self.prefix = Some(BodyPrefix {
            state: prefix_state(&bytes),
            bytes,
        });
        self
    }

    /// `message` with a `DKIM-Signature` field in front. `message` is a
    /// whole message with CRLF line ends, as lettre formats it.
    pub fn sign(&self, message: &[u8], now: SystemTime) -> Result<Vec<u8>, String> {
        let split = memchr::memmem::find(message, b"\r\n\r\n")
            .ok_or("the message has no header/body separator")?;
        let (head, body) = (&message[..split + 2], &message[split + 4..]);
        let fields = fields(head);
        // Each name's fields, bottom-up (RFC 6376 5.4.2), then once more
        // for the field that is not there.
        let mut names = Vec::new();
        let mut signed_data = Vec::with_capacity(2048);
        for name in SIGNED {
            let before = names.len();
            for field in fields
                .iter()
                .rev()
                .filter(|f| field_name(f).eq_ignore_ascii_case(name.as_bytes()))
            {
                relaxed_header(field, &mut signed_data);
                signed_data.extend_from_slice(b"\r\n");
                names.push(name);
            }
            if names.len() > before || SIGNED_IF_ABSENT.contains(&name) {
                names.push(name);
            }
        }
        let algorithm = match self.key {
            Key::Rsa(_) => "rsa-sha256",
            Key::Ed25519(_) => "ed25519-sha256",
        };
        let t = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let unsigned = format!(
            "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={}; s={};\r\n\tt={t}; h={};\r\n\tbh={};\r\n\tb=",
            self.domain,
            self.selector,
            names.join(":"),
            STANDARD.encode(relaxed_body_hash_from(body, self.prefix.as_ref())),
        );
        relaxed_header(unsigned.as_bytes(), &mut signed_data);
        let signature = match &self.key {
            Key::Rsa(key) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &self.rng, &signed_data, &mut sig)
                    .map_err(|_| "RSA signing failed".to_owned())?;
                sig
            }
            // RFC 8463: Ed25519 signs the SHA-256 of the data.
            Key::Ed25519(key) => key.sign(&Sha256::digest(&signed_data)).as_ref().to_vec(),
        };
        let b64 = STANDARD.encode(signature);
        let mut out = Vec::with_capacity(message.len() + unsigned.len() + b64.len() + 64);
        out.extend_from_slice(unsigned.as_bytes());
        for (i, chunk) in b64.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n\t ");
            }
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relaxed(field: &str) -> String {
        let mut out = Vec::new();
        relaxed_header(field.as_bytes(), &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn relaxed_headers_are_unfolded_lower_cased_and_squeezed() {
        assert_eq!(
            relaxed("Subject :  Hello \r\n\t World  "),
            "subject:Hello World"
        );
        assert_eq!(relaxed("From: A <a@x.org>"), "from:A <a@x.org>");
        assert_eq!(relaxed("X-Empty:"), "x-empty:");
    }

    #[test]
    fn the_relaxed_body_drops_trailing_space_and_empty_lines() {
        let a = relaxed_body_hash(b"Hi  there \r\n\tyou\r\n\r\n\r\n");
        let b = relaxed_body_hash(b"Hi there\r\n you\r\n");
        assert_eq!(a, b);
        // RFC 6376 3.4.4: an empty body hashes as empty.
        assert_eq!(relaxed_body_hash(b""), relaxed_body_hash(b"\r\n\r\n"));
        assert_ne!(relaxed_body_hash(b"a\r\n"), relaxed_body_hash(b"a b\r\n"));
    }

    /// The fast path against the rules applied line by line.
    #[test]
    fn the_relaxed_body_hash_is_that_of_every_line_relaxed() {
        let slow = |body: &[u8]| -> [u8; 32] {
            let mut lines: Vec<Vec<u8>> = body
                .split(|&b| b == b'\n')
                .map(|l| {
                    let mut out = Vec::new();
                    relax_line(l, &mut out);
                    out
                })
                .collect();
            // The piece after the last line end is no line.
            if body.ends_with(b"\n") || body.is_empty() {
                lines.pop();
            }
            while lines.last().is_some_and(|l| l == b"\r\n") {
                lines.pop();
            }
            Sha256::digest(lines.concat()).into()
        };
        for body in [
            &b"a\r\nb  c\r\n\td \r\n\r\n \r\n"[..],
            b"plain\r\nlines\r\n",
            b"no end",
            b"x\r\n\r\ny\r\n",
            b"",
            b"\r\n",
            b"tab\there\r\nend  \r\n",
        ] {
            assert_eq!(
                relaxed_body_hash(body),
                slow(body),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Resuming after a shared start gives the hash of the whole body,
    /// wherever the start is cut; a start the body lacks is ignored.
    #[test]
    fn the_body_hash_resumed_after_a_prefix_is_that_of_the_whole() {
        let body = b"--b\r\nA: x\r\n\r\nline  one \r\n\r\n\tmid\r\nreader\r\ntail\r\n--b--\r\n";
        let whole = relaxed_body_hash(body);
        for cut in 0..body.len() - 1 {
            let whole_lines = memchr::memrchr(b'\n', &body[..cut]).map_or(0, |i| i + 1);
            let prefix = BodyPrefix {
                bytes: body[..whole_lines].to_vec(),
                state: prefix_state(&body[..whole_lines]),
            };
            assert_eq!(
                relaxed_body_hash_from(body, Some(&prefix)),
                whole,
                "cut at {cut}"
            );
        }
        let other = BodyPrefix {
            bytes: b"--c\r\n".to_vec(),
            state: prefix_state(b"--c\r\n"),
        };
        assert_eq!(relaxed_body_hash_from(body, Some(&other)), whole);
    }

    #[test]
    fn folded_fields_are_read_whole() {
        let head = b"A: 1\r\nB: 2\r\n  two\r\n\tthree\r\nC: 3\r\n";
        let got: Vec<&[u8]> = fields(head);
        assert_eq!(
            got,
            vec![&b"A: 1"[..], &b"B: 2\r\n  two\r\n\tthree"[..], &b"C: 3"[..]]
        );
    }
}
