//! Addresses: the checked `Email` type, its wire form (an international
//! domain as its A-label), and compact fingerprints for sets of readers.

use std::fmt;

use lettre::Address;

/// A deliverable address: trimmed, domain lower-cased, checked by lettre's
/// parser (the one that will put it on the wire). It keeps the address as
/// the reader wrote it, an international domain included; `envelope` gives
/// the form that goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(Address);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (user, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("{s:?} is not an email address (no @)"))?;
        Address::new(user, domain.to_lowercase())
            .map(Self)
            .map_err(|e| format!("{s:?} is not a valid email address ({e})"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The address as written (for the list, the log and tokens).
    pub fn address(&self) -> &Address {
        &self.0
    }

    /// The address for the envelope and the To header: the domain as an
    /// IDNA A-label (`bücher.de` -> `xn--bcher-kva.de`), which every server
    /// takes. The local part is left as it is; if it is not ASCII, only a
    /// server offering SMTPUTF8 can take it.
    pub fn envelope(&self) -> std::borrow::Cow<'_, Address> {
        ascii_domain(&self.0)
    }

    /// What makes two addresses the same reader (`key_of`).
    pub fn key(&self) -> String {
        key_of(self.as_str())
    }

    /// 128 bits of `key()`, for sets of readers: 16 bytes each, where the
    /// addresses themselves would cost several times that.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint_of(self.as_str())
    }
}

/// What makes two spellings of an address the same mailbox: the whole
/// address case folded, and the domain in its lower-case ASCII form (IDNA:
/// `ann@bücher.de` and `ann@xn--bcher-kva.de` are one reader). Strictly
/// the local part is case-sensitive, but no provider treats it so, and a
/// reader must not get two copies. Every comparison of addresses (the
/// list, the logs, bounces, `serve`, tokens) goes through this; the rows
/// keep the spelling the reader gave.
pub fn key_of(address: &str) -> String {
    let address = address.trim();
    let folded = address.to_lowercase();
    match folded.rsplit_once('@') {
        Some((user, domain)) if !domain.is_ascii() => match idna::domain_to_ascii(domain) {
            Ok(ascii) => format!("{user}@{ascii}"),
            Err(_) => folded,
        },
        _ => folded,
    }
}

/// `key_fingerprint(key_of(address))`, without a copy for the usual
/// address that is its own key already (ASCII, lower case, as bulletin
/// writes most).
pub fn fingerprint_of(address: &str) -> Fingerprint {
    let bytes = address.as_bytes();
    let plain = !upper_or_not_ascii(bytes)
        && !bytes.first().is_some_and(u8::is_ascii_whitespace)
        && !bytes.last().is_some_and(u8::is_ascii_whitespace);
    if plain {
        key_fingerprint(address)
    } else {
        key_fingerprint(&key_of(address))
    }
}

/// Whether `bytes` hold an ASCII capital or a byte that is not ASCII:
/// eight bytes at a time, as this is asked of every row of a list and a
/// log (a million readers: the cost of a byte-by-byte look was 3% of
/// resume planning).
fn upper_or_not_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, rest) = bytes.as_chunks::<8>();
    for word in words {
        let w = u64::from_le_bytes(*word);
        if w & HIGH != 0 {
            return true;
        }
        // Each byte is below 0x80, so adding stays within it: the high bit
        // is then set from 'A' (0x41) on, and from '[' (0x5B) on.
        let from_a = w.wrapping_add(0x3F3F_3F3F_3F3F_3F3F);
        let past_z = w.wrapping_add(0x2525_2525_2525_2525);
        if from_a & !past_z & HIGH != 0 {
            return true;
        }
    }
    rest.iter().any(|b| !b.is_ascii() || b.is_ascii_uppercase())
}

/// `address` with its domain as an IDNA A-label. lettre accepted the
/// domain only if it has one, so the conversion cannot fail for an
/// `Address`; if it ever did, the address is left as it is and the server
/// says no.
pub fn ascii_domain(address: &Address) -> std::borrow::Cow<'_, Address> {
    let domain = address.domain();
    if domain.is_ascii() {
        return std::borrow::Cow::Borrowed(address);
    }
    match idna::domain_to_ascii(domain) {
        Ok(ascii) => std::borrow::Cow::Owned(Address::new_dangerous(address.user(), ascii)),
        Err(_) => std::borrow::Cow::Borrowed(address),
    }
}

/// 128 bits of keyed SipHash of an address's key. A byte array, not a
/// `u128`: its alignment of 1 keeps a map entry at 17 bytes, not 32.
pub type Fingerprint = [u8; 16];

/// The fingerprint of an address already folded by `key_of`.
/// Fingerprints never leave the process, so the key is random per process:
/// nobody can craft an address that collides with another's. (SHA-256,
/// used before, was 12% of resume planning's profile at a million readers;
/// this measured about 5% faster overall.)
pub fn key_fingerprint(key: &str) -> Fingerprint {
    use std::hash::BuildHasher;
    static STATE: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(std::hash::RandomState::new);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&state.hash_one((0u8, key)).to_le_bytes());
    bytes[8..].copy_from_slice(&state.hash_one((1u8, key)).to_le_bytes());
    bytes
}

/// Fingerprints are already uniform hashes: their first 8 bytes serve as
/// the table hash, with none of SipHash's cost.
#[derive(Debug, Default, Clone, Copy)]
pub struct FingerprintHasher(u64);

impl std::hash::Hasher for FingerprintHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }

    /// The length prefix of a slice: the same for every fingerprint.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildFingerprintHasher = std::hash::BuildHasherDefault<FingerprintHasher>;
pub type FingerprintMap<V> = std::collections::HashMap<Fingerprint, V, BuildFingerprintHasher>;
pub type FingerprintSet = std::collections::HashSet<Fingerprint, BuildFingerprintHasher>;

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_an_international_domain_are_one_key() {
        let u = Email::parse("Ann@Bücher.de").expect("valid");
        let a = Email::parse("ann@XN--BCHER-KVA.de").expect("valid");
        assert_eq!(u.key(), "ann@xn--bcher-kva.de");
        assert_eq!(u.key(), a.key());
        assert_eq!(u.fingerprint(), a.fingerprint());
        assert_eq!(fingerprint_of(" ann@bücher.de"), u.fingerprint());
        assert_eq!(fingerprint_of("ann@xn--bcher-kva.de"), u.fingerprint());
        // The address keeps the spelling it was given.
        assert_eq!(u.as_str(), "Ann@bücher.de");
        assert_eq!(key_of("Bo@Example.ORG"), "bo@example.org");
    }

    #[test]
    fn the_word_at_a_time_look_finds_what_a_byte_at_a_time_one_does() {
        let naive = |b: &[u8]| b.iter().any(|b| !b.is_ascii() || b.is_ascii_uppercase());
        let mut text: Vec<u8> = Vec::new();
        for len in 0..40 {
            for at in 0..len.max(1) {
                for b in [
                    b'a', b'@', b'A', b'Z', b'[', b'`', b'z', 0x7F, 0x80, 0xC3, b'0',
                ] {
                    text.clear();
                    text.extend((0..len).map(|i| b"ann.lee@example.org-"[i % 20]));
                    if len > 0 {
                        text[at] = b;
                    }
                    assert_eq!(upper_or_not_ascii(&text), naive(&text), "{text:?}");
                }
            }
        }
    }
}
