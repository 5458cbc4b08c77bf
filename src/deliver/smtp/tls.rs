//! TLS of our own: the client configuration (system roots plus
//! `tls_ca_file`, one per run so sessions resume) and the replies read by
//! hand before STARTTLS, while lettre does not own the socket yet.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::input::config::Smtp;

/// The TLS set-up: the system's root certificates plus `tls_ca_file`,
/// certificates always verified, rustls with AWS-LC (as DKIM).
pub(super) fn tls_connector(smtp: &Smtp) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    connector(&smtp.host, smtp.tls_ca_file.as_deref(), "[smtp]")
}

/// The same for any server (IMAP too): `section` names the config section
/// in errors.
pub fn connector(
    host: &str,
    ca_file: Option<&std::path::Path>,
    section: &str,
) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let config = client_config(ca_file, section)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| anyhow::anyhow!("{section} host {host:?} is not a server name: {e}"))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// The client configuration alone, for any TLS client (the feed's HTTPS
/// too): the system's roots plus `ca_file`, verified, AWS-LC.
pub fn client_config(
    ca_file: Option<&std::path::Path>,
    section: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // A system store that cannot be read in part still leaves the rest,
    // and `tls_ca_file` may be all a private relay needs.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            anyhow::anyhow!("{}: cannot read the CA certificate: {e}", ca.display())
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", ca.display()))?;
        if certs.is_empty() {
            anyhow::bail!("{}: holds no PEM certificate", ca.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("{}: not a usable certificate: {e}", ca.display()))?;
        }
    }
    if roots.is_empty() {
        anyhow::bail!(
            "no root certificates: the system has none, and {section} has no tls_ca_file"
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A reply read off the wire by hand, before lettre takes over (the
/// plaintext part of a STARTTLS session): its code and its lines.
pub(super) struct RawReply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
}

/// Reads exactly one reply, however many lines it has: `NNN-text` lines
/// with one code, then `NNN text`. Nothing may follow it, since a server
/// speaks only when spoken to: bytes pre-loaded after a reply (the
/// CVE-2011-0411 class: replies stuffed into the greeting, or anything
/// after the STARTTLS `220`) would otherwise be read as the answers to
/// later commands. They end the connection instead.
pub(super) async fn read_raw_reply(tcp: &mut TcpStream) -> io::Result<RawReply> {
    let mut bytes = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > 64 * 1024 {
            return Err(io::Error::other("a reply of more than 64 KiB"));
        }
        if let Some(reply) = parse_reply(&bytes)? {
            return Ok(reply);
        }
    }
}

/// One whole reply in `bytes`, `None` while it is not complete yet, or an
/// error for anything else: a line that is not `NNN-` or `NNN ` with the
/// reply's code, or any byte after the reply's last line.
fn parse_reply(bytes: &[u8]) -> io::Result<Option<RawReply>> {
    let bad = |what: String| io::Error::other(what);
    let mut code: Option<u16> = None;
    let mut lines = Vec::new();
    let mut rest = bytes;
    while let Some(end) = memchr::memchr(b'\n', rest) {
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = &rest[end + 1..];
        let text = String::from_utf8_lossy(line);
        let this: u16 = text
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(format!("not an SMTP reply: {text:?}")))?;
        if code.is_some_and(|c| c != this) {
            return Err(bad(format!(
                "a reply line with another code inside a reply: {text:?}"
            )));
        }
        code = Some(this);
        lines.push(text.get(4..).unwrap_or("").trim_end().to_owned());
        match line.get(3) {
            Some(b'-') => {}
            None | Some(b' ') => {
                if !rest.is_empty() {
                    return Err(bad(format!(
                        "{} bytes after the server's {this} reply, before we said anything: refused (replies pre-loaded by someone on the network?)",
                        rest.len()
                    )));
                }
                return Ok(Some(RawReply { code: this, lines }));
            }
            Some(_) => return Err(bad(format!("not an SMTP reply: {text:?}"))),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Result<Option<(u16, Vec<String>)>, String> {
        parse_reply(bytes)
            .map(|r| r.map(|r| (r.code, r.lines)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_reply_is_read_and_nothing_may_follow_it() {
        assert_eq!(
            parsed(b"220-relay.example.org ESMTP\r\n220 ready\r\n"),
            Ok(Some((
                220,
                vec!["relay.example.org ESMTP".into(), "ready".into()]
            )))
        );
        assert_eq!(
            parsed(b"220 ready\r\n"),
            Ok(Some((220, vec!["ready".into()])))
        );
        assert_eq!(parsed(b"220\r\n"), Ok(Some((220, vec![String::new()]))));
        assert_eq!(parsed(b"220-part"), Ok(None));
        assert_eq!(parsed(b"220-one\r\n"), Ok(None));
        // A greeting stuffed with replies to commands not yet sent.
        let stuffed = parsed(b"220 a\r\n250-X\r\n250 AUTH LOGIN\r\n220 b\r\n");
        assert!(stuffed.is_err_and(|e| e.contains("bytes after")), "stuffed");
        // Bytes after STARTTLS's go-ahead, before the handshake.
        assert!(parsed(b"220 go ahead\r\n250 injected\r\n").is_err());
        // Continuations must carry the reply's code.
        assert!(parsed(b"220-a\r\n250 b\r\n").is_err());
        assert!(parsed(b"hello\r\n").is_err());
        assert!(parsed(b"220xready\r\n").is_err());
    }
}
