//! One SMTP connection of our own: TCP with TCP_NODELAY, STARTTLS or TLS,
//! AUTH, then one message at a time, every exchange under our own timeout
//! (lettre's covers only the TCP connect). Every failure says at which
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
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailParameter};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

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

/// Where and how to connect, checked once before a run starts.
pub struct Server {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    tls: Option<TlsParameters>,
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
            Security::Starttls | Security::Tls => {
                let mut builder = TlsParameters::builder(smtp.host.clone());
                if let Some(ca) = &smtp.tls_ca_file {
                    let pem = std::fs::read(ca).map_err(|e| {
                        anyhow::anyhow!("{}: cannot read the CA certificate: {e}", ca.display())
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        anyhow::anyhow!("{}: not a PEM certificate: {e}", ca.display())
                    })?;
                    builder = builder.add_root_certificate(cert);
                }
                Some(builder.build()?)
            }
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

    /// The name this client gives in EHLO.
    pub fn hello(&self) -> String {
        self.hello.to_string()
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

    pub async fn connect(&self) -> Result<Connection, Failure> {
        let mut raw = None;
        let mut conn = match (self.security, &self.tls) {
            (Security::Tls, Some(tls)) => {
                // Implicit TLS: lettre opens this socket itself, so it runs
                // without TCP_NODELAY; STARTTLS on 587 is the faster path.
                let connect = AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello,
                    Some(tls.clone()),
                    None,
                );
                match tokio::time::timeout(self.timeout, connect).await {
                    Ok(Ok(conn)) => conn,
                    // A reply is the greeting's or EHLO's; anything else
                    // (refused, no such host, the TLS handshake) means
                    // there is no connection to speak of.
                    Ok(Err(e)) => match Failure::from_lettre(&e, Stage::Greeting) {
                        reply @ Failure::Reply { .. } => return Err(reply),
                        _ => return Err(self.unreachable(io_reason(&e))),
                    },
                    Err(_) => return Err(self.unreachable("timed out")),
                }
            }
            _ => {
                let tcp = tokio::time::timeout(
                    self.timeout,
                    TcpStream::connect((self.host.as_str(), self.port)),
                )
                .await
                .map_err(|_| self.unreachable("timed out"))?
                .map_err(|e| self.unreachable(io_reason(&e)))?;
                // lettre writes a message's end `.` as its own small write,
                // which Nagle holds for the peer's delayed ACK (~40 ms).
                tcp.set_nodelay(true)
                    .map_err(|e| self.unreachable(io_reason(&e)))?;
                let (stream, writer) = WriteBehind::new(tcp);
                let connected = self
                    .reply(
                        Stage::Greeting,
                        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
                    )
                    .await;
                // lettre reads the greeting, then sends EHLO: whether it
                // wrote anything says which of the two failed.
                let conn = connected.map_err(|f| match (f, writer.wrote()) {
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
                raw = Some(writer);
                conn
            }
        };
        if let (Security::Starttls, Some(tls)) = (self.security, &self.tls) {
            // Below TLS, the raw buffer would bypass encryption.
            raw = None;
            if !conn.can_starttls() {
                return Err(Failure::Fatal {
                    detail: format!("{} does not offer STARTTLS", self.describe()),
                });
            }
            match tokio::time::timeout(self.timeout, conn.starttls(tls.clone(), &self.hello)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_tls() => {
                    return Err(
                        self.unreachable(format!("TLS handshake failed: {}", io_reason(&e)))
                    );
                }
                Ok(Err(e)) => return Err(Failure::from_lettre(&e, Stage::Starttls)),
                Err(_) => {
                    return Err(Failure::Dropped {
                        stage: Stage::Starttls,
                        detail: format!("no reply to STARTTLS within {}s", self.timeout.as_secs()),
                    });
                }
            }
        }
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
            raw,
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
    /// Direct access below lettre, on plaintext connections only (TLS sits
    /// between lettre and the socket otherwise): the data phase is written
    /// here, dot-stuffed by us in one pass instead of lettre's byte loop.
    raw: Option<RawWriter>,
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
        let Some(raw) = &self.raw else {
            return Ok(());
        };
        raw.push(format!("EHLO {}\r\n", server.hello).as_bytes());
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
        let bytes = match (&self.raw, self.pipelining) {
            (Some(raw), true) => {
                raw.push(format!("{mail}{rcpt}{Data}").as_bytes());
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
                    if let (Ok(_), Some(raw)) = (&replies[2], &self.raw) {
                        // The server took DATA despite an earlier refusal:
                        // end it empty, so nothing is delivered.
                        raw.push(b".\r\n");
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
            _ => {
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
        let reply = match &self.raw {
            Some(raw) => {
                raw.push_message(&bytes);
                server
                    .timed(
                        Stage::Message,
                        server.data_timeout,
                        self.conn.read_response(),
                    )
                    .await
            }
            None => {
                server
                    .timed(
                        Stage::Message,
                        server.data_timeout,
                        self.conn.message(&bytes),
                    )
                    .await
            }
        }?;
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
    inner: TcpStream,
    pending: Arc<Mutex<Vec<u8>>>,
    wrote: Arc<AtomicBool>,
    /// Bytes taken from `pending` and not yet accepted by the socket.
    out: Vec<u8>,
    sent: usize,
}

impl WriteBehind {
    fn new(inner: TcpStream) -> (Self, RawWriter) {
        let pending = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let wrote = Arc::new(AtomicBool::new(false));
        let stream = Self {
            inner,
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
                return Poll::Ready(Ok(()));
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncTokioStream for WriteBehind {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}
