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
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| anyhow::anyhow!("{section} host {host:?} is not a server name: {e}"))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// A reply read off the wire by hand, before lettre takes over (the
/// plaintext part of a STARTTLS session): its code, its lines, and its
/// bytes as received.
pub(super) struct RawReply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
    pub(super) bytes: Vec<u8>,
}

/// Reads one reply, however many lines it has. Nothing may follow it: the
/// server speaks only when spoken to, and bytes injected after a STARTTLS
/// reply (CVE-2011-0411) must not pass for TLS data. They make the reply
/// unreadable here instead, and the connection fails.
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
        if !bytes.ends_with(b"\n") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let Some(last) = lines.last() else { continue };
        // The last line of a reply has a space (or nothing) after its code.
        if last.len() >= 3 && last.as_bytes().get(3).is_none_or(|b| *b == b' ') {
            let code = last[..3]
                .parse()
                .map_err(|_| io::Error::other(format!("not an SMTP reply: {last:?}")))?;
            let lines = lines
                .iter()
                .map(|l| l.get(4..).unwrap_or("").trim_end().to_owned())
                .collect();
            return Ok(RawReply { code, lines, bytes });
        }
    }
}
