//! DKIM signing set-up: the key file read and checked once, and the
//! relaxed/relaxed configuration over the headers receivers look at.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use crate::config::DkimSettings;

/// The headers signed, when present. Simple header canonicalisation fails
/// real verifiers, hence relaxed/relaxed (docs/email.md).
const SIGNED: [&str; 7] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Id",
];
const SIGNED_UNSUBSCRIBE: [&str; 2] = ["List-Unsubscribe", "List-Unsubscribe-Post"];

/// PKCS#8 DER of an Ed25519 key is this prefix and the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64).ok()
}

/// Reads the key (RSA as PKCS#1 PEM, or Ed25519 as PKCS#8 PEM) and builds
/// the signing configuration.
pub fn load(settings: &DkimSettings, with_unsubscribe: bool) -> anyhow::Result<DkimConfig> {
    let path: &Path = &settings.private_key;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the DKIM key: {e}", path.display()))?;
    let key = if pem.contains("BEGIN RSA PRIVATE KEY") {
        DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
            .map_err(|e| anyhow::anyhow!("{}: not a usable RSA key: {e}", path.display()))?
    } else if pem.contains("BEGIN PRIVATE KEY") {
        let der = pem_body(&pem).unwrap_or_default();
        match der.strip_prefix(&ED25519_PKCS8_PREFIX[..]) {
            Some(seed) if seed.len() == 32 => {
                DkimSigningKey::new(&STANDARD.encode(seed), DkimSigningAlgorithm::Ed25519).map_err(
                    |e| anyhow::anyhow!("{}: not a usable Ed25519 key: {e}", path.display()),
                )?
            }
            _ => anyhow::bail!(
                "{}: a PKCS#8 key that is not Ed25519; for RSA give the PKCS#1 form \
                 (openssl pkey -in KEY -traditional -out KEY.rsa.pem)",
                path.display()
            ),
        }
    } else {
        anyhow::bail!(
            "{}: not a PEM private key (expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)",
            path.display()
        );
    };
    let mut headers: Vec<HeaderName> = SIGNED
        .iter()
        .map(|h| HeaderName::new_from_ascii_str(h))
        .collect();
    if with_unsubscribe {
        headers.extend(
            SIGNED_UNSUBSCRIBE
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h)),
        );
    }
    Ok(DkimConfig::new(
        settings.selector.clone(),
        settings.domain.clone(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}
