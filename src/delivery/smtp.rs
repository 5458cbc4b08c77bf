//! One SMTP connection of our own: TCP with TCP_NODELAY, then TLS of our
//! own (implicit, or after STARTTLS), AUTH, then one message at a time,
//! pipelined and written in one go whether or not TLS is on; every
//! exchange under our own timeout (lettre's covers only the TCP connect). Every failure says at which
//! stage of the session it came, so the policy can tell a reader's
//! problem from the sender's or the relay's.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailParameter};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Security, Smtp};

/// The step of an SMTP session a reply (or its absence) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Greeting,
    Ehlo,
    Starttls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    /// The reply to the message itself, after the final dot.
    Message,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "the greeting",
            Stage::Ehlo => "EHLO",
            Stage::Starttls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Message => "the end of the message",
        })
    }
}

impl Stage {
    /// A stage of setting the connection up, before any message.
    pub fn is_setup(self) -> bool {
        matches!(
            self,
            Stage::Greeting | Stage::Ehlo | Stage::Starttls | Stage::Auth
        )
    }
}

/// How an SMTP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered `stage` with an error reply.
    Reply {
        stage: Stage,
        code: u16,
        text: String,
    },
    /// No reply to `stage`: the connection dropped, timed out or broke.
    /// At `Stage::Message` the whole message may have been written, so it
    /// may have arrived.
    Dropped { stage: Stage, detail: String },
    /// No connection at all: refused, no such host, timed out, or a TLS
    /// handshake or certificate that failed.
    Unreachable { detail: String },
    /// This reader's address cannot go to this server (a non-ASCII local
    /// part, and no SMTPUTF8).
    Unsendable { detail: String },
    /// Something no retry will fix: no STARTTLS offered, no AUTH mechanism
    /// in common, a message that cannot be built, a log that cannot be written.
    Fatal { detail: String },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Reply { code, text, .. } => write!(f, "{code} {text}"),
            Failure::Dropped { detail, .. }
            | Failure::Unreachable { detail }
            | Failure::Unsendable { detail }
            | Failure::Fatal { detail } => f.write_str(detail),
        }
    }
}

impl Failure {
    fn from_lettre(err: &lettre::transport::smtp::Error, stage: Stage) -> Self {
        match err.status() {
            Some(code) => Failure::Reply {
                stage,
                code: u16::from(code),
                text: std::error::Error::source(err)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            },
            // lettre's own "no compatible AUTH mechanism" and the like.
            None if err.is_client() => Failure::Fatal {
                detail: format!("{stage}: {err}"),
            },
            None => Failure::Dropped {
                stage,
                detail: format!("{stage}: {}", io_reason(err)),
            },
        }
    }
}

/// The plain reason behind an error: `connection refused`, not lettre's
/// and std's wrapping of it.
fn io_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".into(),
                io::ErrorKind::ConnectionReset => "connection reset".into(),
                io::ErrorKind::TimedOut => "timed out".into(),
                io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
                _ => io.to_string(),
            };
        }
        source = e.source();
    }
    err.to_string()
}

/// The TLS set-up: the system's root certificates plus `tls_ca_file`,
/// certificates always verified, rustls with AWS-LC (as DKIM).
fn tls_connector(smtp: &Smtp) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    // A system store that cannot be read in part still leaves the rest,
    // and `tls_ca_file` may be all a private relay needs.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(ca) = &smtp.tls_ca_file {
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
        anyhow::bail!("no root certificates: the system has none, and [smtp] has no tls_ca_file");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(smtp.host.clone())
        .map_err(|e| anyhow::anyhow!("[smtp] host {:?} is not a server name: {e}", smtp.host))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// A reply read off the wire by hand, before lettre takes over (the
/// plaintext part of a STARTTLS session): its code, its lines, and its
/// bytes as received.
struct RawReply {
    code: u16,
    lines: Vec<String>,
    bytes: Vec<u8>,
}

/// Reads one reply, however many lines it has. Nothing may follow it: the
/// server speaks only when spoken to, and bytes injected after a STARTTLS
/// reply (CVE-2011-0411) must not pass for TLS data. They make the reply
/// unreadable here instead, and the connection fails.
async fn read_raw_reply(tcp: &mut TcpStream) -> io::Result<RawReply> {
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

/// Where and how to connect, checked once before a run starts.
pub struct Server {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// One TLS configuration for every connection of the run, so that
    /// later handshakes resume the first one's session.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Bounds the connect and every command's reply.
    timeout: Duration,
    /// Bounds the reply to the final dot (RFC 5321 4.5.3.2: 10 minutes).
    data_timeout: Duration,
    hello: ClientId,
}

/// The EHLO name: `[smtp] hello_name`, else this machine's name when it is
/// fully qualified, else the From address's domain; never `localhost`,
/// which many relays refuse or score as spam.
fn hello_name(configured: Option<&str>, from: &Address) -> ClientId {
    let name = match configured {
        Some(name) => name.to_owned(),
        None => match ClientId::default() {
            ClientId::Domain(host)
                if host.contains('.')
                    && !host.starts_with("localhost.")
                    && host.parse::<IpAddr>().is_err() =>
            {
                host
            }
            _ => crate::subscribers::ascii_domain(from).domain().to_owned(),
        },
    };
    match name.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) => ClientId::Domain(name),
    }
}

impl Server {
    /// `password` comes from the environment; it is needed only with a
    /// username. `from` is the envelope sender, for the default EHLO name.
    pub fn new(
        smtp: &Smtp,
        password: Option<SecretString>,
        from: &Address,
    ) -> anyhow::Result<Self> {
        let credentials = match (&smtp.username, password) {
            (Some(user), Some(pw)) => Some(Credentials::new(
                user.clone(),
                pw.expose_secret().to_owned(),
            )),
            (Some(_), None) => anyhow::bail!(
                "[smtp] has a username but the environment variable {} (the password) is not set",
                smtp.password_env
            ),
            (None, _) => None,
        };
        let tls = match smtp.security {
            Security::None => None,
            Security::Starttls | Security::Tls => Some(tls_connector(smtp)?),
        };
        Ok(Self {
            host: smtp.host.clone(),
            port: smtp.port,
            security: smtp.security,
            credentials,
            tls,
            timeout: smtp.timeout,
            data_timeout: smtp.data_timeout,
            hello: hello_name(smtp.hello_name.as_deref(), from),
        })
    }

    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn unreachable(&self, why: impl fmt::Display) -> Failure {
        Failure::Unreachable {
            detail: format!("cannot connect to {}: {why}", self.describe()),
        }
    }

    async fn timed<T>(
        &self,
        stage: Stage,
        limit: Duration,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::from_lettre(&e, stage)),
            Err(_) => Err(Failure::Dropped {
                stage,
                detail: format!("no reply to {stage} within {}s", limit.as_secs()),
            }),
        }
    }

    /// A command's reply, under the command timeout.
    async fn reply<T>(
        &self,
        stage: Stage,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, Failure> {
        self.timed(stage, self.timeout, fut).await
    }

    /// A reply read by hand, under the command timeout; a refusal is a
    /// `Reply` at `stage`.
    async fn raw_exchange(
        &self,
        tcp: &mut TcpStream,
        stage: Stage,
        command: Option<&str>,
        expect: u16,
    ) -> Result<RawReply, Failure> {
        let exchange = async {
            if let Some(command) = command {
                tcp.write_all(command.as_bytes()).await?;
            }
            read_raw_reply(tcp).await
        };
        let reply = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Failure::Dropped {
                stage,
                detail: format!("no reply to {stage} within {}s", self.timeout.as_secs()),
            })?
            .map_err(|e| Failure::Dropped {
                stage,
                detail: format!("{stage}: {}", io_reason(&e)),
            })?;
        if reply.code != expect {
            return Err(Failure::Reply {
                stage,
                code: reply.code,
                text: reply.lines.join(" "),
            });
        }
        Ok(reply)
    }

    /// The plaintext start of a STARTTLS session, by hand: the greeting,
    /// EHLO, STARTTLS. Returns the greeting's bytes, which lettre is given
    /// to read again once TLS is up, as if the session began there (it
    /// then sends EHLO again, over TLS, as RFC 3207 asks).
    async fn starttls_preamble(&self, tcp: &mut TcpStream) -> Result<Vec<u8>, Failure> {
        let greeting = self.raw_exchange(tcp, Stage::Greeting, None, 220).await?;
        let hello = format!("EHLO {}\r\n", self.hello);
        let ehlo = self
            .raw_exchange(tcp, Stage::Ehlo, Some(&hello), 250)
            .await?;
        if !ehlo
            .lines
            .iter()
            .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"))
        {
            return Err(Failure::Fatal {
                detail: format!("{} does not offer STARTTLS", self.describe()),
            });
        }
        self.raw_exchange(tcp, Stage::Starttls, Some("STARTTLS\r\n"), 220)
            .await?;
        Ok(greeting.bytes)
    }

    /// TCP with TCP_NODELAY: lettre writes small pieces, which Nagle would
    /// hold for the peer's delayed ACK (~40 ms a message).
    async fn tcp(&self) -> Result<TcpStream, Failure> {
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| self.unreachable("timed out"))?
        .map_err(|e| self.unreachable(io_reason(&e)))?;
        tcp.set_nodelay(true)
            .map_err(|e| self.unreachable(io_reason(&e)))?;
        Ok(tcp)
    }

    /// The TLS handshake, certificate verified; a failure means there is
    /// no connection to speak of.
    async fn handshake(
        &self,
        tcp: TcpStream,
        (connector, name): &(TlsConnector, ServerName<'static>),
    ) -> Result<Stream, Failure> {
        match tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
            Ok(Err(e)) => Err(self.unreachable(format!("TLS handshake failed: {}", io_reason(&e)))),
            Err(_) => Err(self.unreachable("TLS handshake timed out")),
        }
    }

    pub async fn connect(&self) -> Result<Connection, Failure> {
        let mut tcp = self.tcp().await?;
        let (stream, preface) = match (self.security, &self.tls) {
            (Security::Tls, Some(tls)) => (self.handshake(tcp, tls).await?, Vec::new()),
            (Security::Starttls, Some(tls)) => {
                let greeting = self.starttls_preamble(&mut tcp).await?;
                (self.handshake(tcp, tls).await?, greeting)
            }
            _ => (Stream::Plain(tcp), Vec::new()),
        };
        let (stream, writer) = WriteBehind::new(stream, preface);
        let connected = self
            .reply(
                Stage::Greeting,
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
            )
            .await;
        // lettre reads the greeting, then sends EHLO: whether it wrote
        // anything says which of the two failed.
        let mut conn = connected.map_err(|f| match (f, writer.wrote()) {
            (Failure::Reply { code, text, .. }, true) => Failure::Reply {
                stage: Stage::Ehlo,
                code,
                text,
            },
            (Failure::Dropped { detail, .. }, true) => Failure::Dropped {
                stage: Stage::Ehlo,
                detail: detail.replace("the greeting", "EHLO"),
            },
            (f, _) => f,
        })?;
        if let Some(credentials) = &self.credentials {
            self.reply(
                Stage::Auth,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        let smtputf8 = conn.server_info().supports_feature(Extension::SmtpUtfEight);
        let mut connection = Connection {
            conn,
            raw: writer,
            pipelining: false,
            smtputf8,
        };
        connection.probe_pipelining(self).await?;
        Ok(connection)
    }
}

/// An open, ready connection.
pub struct Connection {
    conn: AsyncSmtpConnection,
    /// Direct access below lettre (and above TLS): pipelined commands and
    /// the data phase are written here, the message dot-stuffed by us in
    /// one pass instead of lettre's byte loop.
    raw: RawWriter,
    /// The server advertised PIPELINING (RFC 2920): MAIL, RCPT and DATA go
    /// out together and their replies are read after.
    pipelining: bool,
    /// The server advertised SMTPUTF8 (RFC 6531): it takes addresses whose
    /// local part is not ASCII, and headers in UTF-8 (RFC 6532).
    smtputf8: bool,
}

impl Connection {
    /// Asks the server again for its extensions (lettre keeps only those
    /// it knows, and PIPELINING is not one of them).
    async fn probe_pipelining(&mut self, server: &Server) -> Result<(), Failure> {
        self.raw
            .push(format!("EHLO {}\r\n", server.hello).as_bytes());
        let reply = server.reply(Stage::Ehlo, self.conn.read_response()).await?;
        self.pipelining = reply
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"));
        Ok(())
    }

    /// Sends one message from `from` to `to`, both as they go on the wire
    /// (domains as A-labels); `Ok` holds the server's acceptance reply.
    /// `message` builds it: with pipelining, while the envelope commands
    /// are on the wire. The content goes out only once `gate` resolves `Ok`
    /// (the delivery log's record of the attempt); on `Err` the connection
    /// must be dropped.
    pub async fn send(
        &mut self,
        server: &Server,
        from: &Address,
        to: &Address,
        message: impl Future<Output = Result<Vec<u8>, String>>,
        gate: impl Future<Output = Result<(), String>>,
    ) -> Result<String, Failure> {
        let unbuilt = |e| Failure::Fatal {
            detail: format!("the message could not be built: {e}"),
        };
        if !from.user().is_ascii() && !self.smtputf8 {
            return Err(Failure::Fatal {
                detail: format!(
                    "the sender {from} is not ASCII and {} does not offer SMTPUTF8",
                    server.describe()
                ),
            });
        }
        let utf8 = !to.user().is_ascii() || !from.user().is_ascii();
        if utf8 && !self.smtputf8 {
            return Err(Failure::Unsendable {
                detail: format!(
                    "{to} has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), and {} does not offer it",
                    server.describe()
                ),
            });
        }
        let parameters = if utf8 {
            vec![MailParameter::SmtpUtfEight]
        } else {
            vec![]
        };
        let mail = Mail::new(Some(from.clone()), parameters);
        let rcpt = Rcpt::new(to.clone(), vec![]);
        let bytes = match self.pipelining {
            true => {
                self.raw.push(format!("{mail}{rcpt}{Data}").as_bytes());
                let (mail_reply, built) = {
                    let mut first =
                        std::pin::pin!(server.reply(Stage::MailFrom, self.conn.read_response()));
                    // The first poll writes the envelope; the message is
                    // built while it travels (measured against smtp-sink:
                    // about 5% more messages a second at one connection).
                    let early =
                        std::future::poll_fn(|cx| Poll::Ready(first.as_mut().poll(cx))).await;
                    let built = message.await;
                    let reply = match early {
                        Poll::Ready(reply) => reply,
                        Poll::Pending => first.await,
                    };
                    (reply, built)
                };
                let replies = [
                    mail_reply,
                    server.reply(Stage::RcptTo, self.conn.read_response()).await,
                    server.reply(Stage::Data, self.conn.read_response()).await,
                ];
                if let Some(failure) = replies.iter().find_map(|r| r.as_ref().err()) {
                    if replies[2].is_ok() {
                        // The server took DATA despite an earlier refusal:
                        // end it empty, so nothing is delivered.
                        self.raw.push(b".\r\n");
                        let _ = server
                            .reply(Stage::Message, self.conn.read_response())
                            .await;
                    }
                    return Err(failure.clone());
                }
                // Past DATA a closing dot would deliver: without a message
                // the connection is dropped (the caller drops it on `Fatal`).
                built.map_err(unbuilt)?
            }
            false => {
                let bytes = message.await.map_err(unbuilt)?;
                server
                    .reply(Stage::MailFrom, self.conn.command(mail))
                    .await?;
                server.reply(Stage::RcptTo, self.conn.command(rcpt)).await?;
                server.reply(Stage::Data, self.conn.command(Data)).await?;
                bytes
            }
        };
        if let Err(e) = gate.await {
            return Err(Failure::Fatal {
                detail: format!("the delivery log could not be written: {e}"),
            });
        }
        // From here the message may reach the server: a lost reply is
        // `unknown`. The reply may take long (a relay that scans or queues
        // before answering): RFC 5321 allows it 10 minutes.
        self.raw.push_message(&bytes);
        let reply = server
            .timed(
                Stage::Message,
                server.data_timeout,
                self.conn.read_response(),
            )
            .await?;
        Ok(format!(
            "{} {}",
            u16::from(reply.code()),
            reply.message().collect::<Vec<_>>().join(" ")
        ))
    }

    /// Ends a refused transaction so the connection can carry the next one.
    pub async fn reset(&mut self, server: &Server) -> bool {
        server
            .reply(Stage::MailFrom, self.conn.command(Rset))
            .await
            .is_ok()
    }

    pub async fn quit(mut self, server: &Server) {
        let _ = server.reply(Stage::Greeting, self.conn.quit()).await;
    }
}

/// Appends bytes to a `WriteBehind`'s buffer; they leave with the next read.
#[derive(Debug, Clone)]
struct RawWriter(Arc<Mutex<Vec<u8>>>, Arc<AtomicBool>);

impl RawWriter {
    fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }

    /// Whether anything was ever written on the connection.
    fn wrote(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }

    /// The DATA content: every line starting with `.` gets another (RFC
    /// 5321 4.5.2), then the closing `.` line. `bytes` has CRLF line ends.
    fn push_message(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buf.reserve(bytes.len() + 64);
        if bytes.first() == Some(&b'.') {
            buf.push(b'.');
        }
        let mut start = 0;
        for at in memchr::memmem::find_iter(bytes, b"\n.") {
            buf.extend_from_slice(&bytes[start..=at]);
            buf.push(b'.');
            start = at + 1;
        }
        buf.extend_from_slice(&bytes[start..]);
        if !bytes.ends_with(b"\r\n") {
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b".\r\n");
    }
}

/// A TCP stream that holds what is written until the next read, so a
/// command, or a message and its closing dot, leave in one segment
/// instead of one per `write` call lettre makes.
#[derive(Debug)]
struct WriteBehind {
    inner: Stream,
    /// Bytes to hand the reader before any from `inner`: after STARTTLS,
    /// the greeting once more, for lettre to start its session on.
    preface: Vec<u8>,
    pending: Arc<Mutex<Vec<u8>>>,
    wrote: Arc<AtomicBool>,
    /// Bytes taken from `pending` and not yet accepted by the socket.
    out: Vec<u8>,
    sent: usize,
}

impl WriteBehind {
    fn new(inner: Stream, preface: Vec<u8>) -> (Self, RawWriter) {
        let pending = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let wrote = Arc::new(AtomicBool::new(false));
        let stream = Self {
            inner,
            preface,
            pending: pending.clone(),
            wrote: wrote.clone(),
            out: Vec::with_capacity(64 * 1024),
            sent: 0,
        };
        (stream, RawWriter(pending, wrote))
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.sent < self.out.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.sent += n;
            }
            self.out.clear();
            self.sent = 0;
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() {
                drop(pending);
                // TLS may hold records it could not write yet; plain TCP
                // has nothing to flush.
                return Pin::new(&mut self.inner).poll_flush(cx);
            }
            std::mem::swap(&mut self.out, &mut pending);
        }
    }

    fn pending_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Past this, writes go out without waiting for a read.
const HOLD_LIMIT: usize = 1 << 20;

impl AsyncWrite for WriteBehind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending_len() >= HOLD_LIMIT {
            ready!(self.poll_drain(cx))?;
        }
        self.wrote.store(true, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// Deliberately holds the data: every SMTP write is followed by a read
    /// of the reply, and that read sends it.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncRead for WriteBehind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if !self.preface.is_empty() {
            let n = self.preface.len().min(buf.remaining());
            buf.put_slice(&self.preface[..n]);
            self.preface.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncTokioStream for WriteBehind {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Stream::Plain(tcp) => tcp.peer_addr(),
            Stream::Tls(tls) => tls.get_ref().0.peer_addr(),
        }
    }
}

/// The socket below `WriteBehind`: plain TCP, or TLS of our own over it.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
