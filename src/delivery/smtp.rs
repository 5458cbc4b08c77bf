//! One SMTP connection of our own: TCP with TCP_NODELAY, STARTTLS or TLS,
//! AUTH, then one message at a time, every exchange under our own timeout
//! (lettre's covers only the TCP connect).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{Security, Smtp};

/// How an SMTP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an error reply.
    Reply { code: u16, text: String },
    /// No reply: the connection dropped, timed out or broke. `handed_over`
    /// says the whole message had been written, so it may have arrived.
    Dropped { detail: String, handed_over: bool },
    /// Set-up that no retry will fix: TLS refused, no STARTTLS, a bad
    /// certificate, authentication rejected.
    Fatal { detail: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Reply { code, text } => write!(f, "{code} {text}"),
            Failure::Dropped { detail, .. } | Failure::Fatal { detail } => f.write_str(detail),
        }
    }
}

impl Failure {
    fn from_lettre(err: &lettre::transport::smtp::Error, handed_over: bool) -> Self {
        match err.status() {
            Some(code) => Failure::Reply {
                code: u16::from(code),
                text: std::error::Error::source(err)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            },
            // TLS refused, or lettre's own "no compatible AUTH mechanism".
            None if err.is_tls() || err.is_client() => Failure::Fatal {
                detail: err.to_string(),
            },
            None => Failure::Dropped {
                detail: err.to_string(),
                handed_over,
            },
        }
    }
}

/// Where and how to connect, checked once before a run starts.
pub struct Server {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    tls: Option<TlsParameters>,
    timeout: Duration,
    hello: ClientId,
}

impl Server {
    /// `password` comes from the environment; it is needed only with a username.
    pub fn new(smtp: &Smtp, password: Option<SecretString>) -> anyhow::Result<Self> {
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
            hello: ClientId::default(),
        })
    }

    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    async fn timed<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::from_lettre(&e, false)),
            Err(_) => Err(Failure::Dropped {
                detail: format!("no reply to {what} within {}s", self.timeout.as_secs()),
                handed_over: false,
            }),
        }
    }

    pub async fn connect(&self) -> Result<Connection, Failure> {
        let mut raw = None;
        let mut conn = match (self.security, &self.tls) {
            (Security::Tls, Some(tls)) => {
                // Implicit TLS: lettre opens this socket itself, so it runs
                // without TCP_NODELAY; STARTTLS on 587 is the faster path.
                self.timed(
                    "the TLS greeting",
                    AsyncSmtpConnection::connect_tokio1(
                        (self.host.as_str(), self.port),
                        Some(self.timeout),
                        &self.hello,
                        Some(tls.clone()),
                        None,
                    ),
                )
                .await?
            }
            _ => {
                let tcp = tokio::time::timeout(
                    self.timeout,
                    TcpStream::connect((self.host.as_str(), self.port)),
                )
                .await
                .map_err(|_| Failure::Dropped {
                    detail: format!("cannot connect to {}: timed out", self.describe()),
                    handed_over: false,
                })?
                .map_err(|e| Failure::Dropped {
                    detail: format!("cannot connect to {}: {e}", self.describe()),
                    handed_over: false,
                })?;
                // lettre writes a message's end `.` as its own small write,
                // which Nagle holds for the peer's delayed ACK (~40 ms).
                tcp.set_nodelay(true).map_err(|e| Failure::Dropped {
                    detail: e.to_string(),
                    handed_over: false,
                })?;
                let (stream, writer) = WriteBehind::new(tcp);
                raw = Some(writer);
                self.timed(
                    "the greeting",
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
                )
                .await?
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
            self.timed("STARTTLS", conn.starttls(tls.clone(), &self.hello))
                .await
                .map_err(refusal_is_fatal("STARTTLS refused"))?;
        }
        if let Some(credentials) = &self.credentials {
            self.timed(
                "AUTH",
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await
            .map_err(refusal_is_fatal("authentication failed"))?;
        }
        let mut connection = Connection {
            conn,
            raw,
            pipelining: false,
        };
        connection.probe_pipelining(self).await?;
        Ok(connection)
    }
}

/// During set-up a refusal is no passing fault: retrying would meet it again.
fn refusal_is_fatal(what: &'static str) -> impl Fn(Failure) -> Failure {
    move |f| match f {
        Failure::Reply { code, text } => Failure::Fatal {
            detail: format!("{what}: {code} {text}"),
        },
        other => other,
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
}

impl Connection {
    /// Asks the server again for its extensions (lettre keeps only those
    /// it knows, and PIPELINING is not one of them).
    async fn probe_pipelining(&mut self, server: &Server) -> Result<(), Failure> {
        let Some(raw) = &self.raw else {
            return Ok(());
        };
        raw.push(format!("EHLO {}\r\n", server.hello).as_bytes());
        let reply = server.timed("EHLO", self.conn.read_response()).await?;
        self.pipelining = reply
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"));
        Ok(())
    }

    /// Sends one message; `Ok` holds the server's acceptance reply.
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
        let mail = Mail::new(Some(from.clone()), vec![]);
        let rcpt = Rcpt::new(to.clone(), vec![]);
        let bytes = match (&self.raw, self.pipelining) {
            (Some(raw), true) => {
                raw.push(format!("{mail}{rcpt}{Data}").as_bytes());
                let (mail_reply, built) = {
                    let mut first =
                        std::pin::pin!(server.timed("MAIL FROM", self.conn.read_response()));
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
                    server.timed("RCPT TO", self.conn.read_response()).await,
                    server.timed("DATA", self.conn.read_response()).await,
                ];
                if let Some(failure) = replies.iter().find_map(|r| r.as_ref().err()) {
                    if let (Ok(_), Some(raw)) = (&replies[2], &self.raw) {
                        // The server took DATA despite an earlier refusal:
                        // end it empty, so nothing is delivered.
                        raw.push(b".\r\n");
                        let _ = server
                            .timed("the empty message", self.conn.read_response())
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
                server.timed("MAIL FROM", self.conn.command(mail)).await?;
                server.timed("RCPT TO", self.conn.command(rcpt)).await?;
                server.timed("DATA", self.conn.command(Data)).await?;
                bytes
            }
        };
        if let Err(e) = gate.await {
            return Err(Failure::Fatal {
                detail: format!("the delivery log could not be written: {e}"),
            });
        }
        // From here the message may reach the server: a lost reply is `unknown`.
        let reply = match &self.raw {
            Some(raw) => {
                raw.push_message(&bytes);
                tokio::time::timeout(server.timeout, self.conn.read_response()).await
            }
            None => tokio::time::timeout(server.timeout, self.conn.message(&bytes)).await,
        };
        match reply {
            Ok(Ok(reply)) => Ok(format!(
                "{} {}",
                u16::from(reply.code()),
                reply.message().collect::<Vec<_>>().join(" ")
            )),
            Ok(Err(e)) => Err(Failure::from_lettre(&e, true)),
            Err(_) => Err(Failure::Dropped {
                detail: format!(
                    "no reply to the message within {}s",
                    server.timeout.as_secs()
                ),
                handed_over: true,
            }),
        }
    }

    /// Ends a refused transaction so the connection can carry the next one.
    pub async fn reset(&mut self, server: &Server) -> bool {
        server.timed("RSET", self.conn.command(Rset)).await.is_ok()
    }

    pub async fn quit(mut self, server: &Server) {
        let _ = server.timed("QUIT", self.conn.quit()).await;
    }
}

/// Appends bytes to a `WriteBehind`'s buffer; they leave with the next read.
#[derive(Debug, Clone)]
struct RawWriter(Arc<Mutex<Vec<u8>>>);

impl RawWriter {
    fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
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
    /// Bytes taken from `pending` and not yet accepted by the socket.
    out: Vec<u8>,
    sent: usize,
}

impl WriteBehind {
    fn new(inner: TcpStream) -> (Self, RawWriter) {
        let pending = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let stream = Self {
            inner,
            pending: pending.clone(),
            out: Vec::with_capacity(64 * 1024),
            sent: 0,
        };
        (stream, RawWriter(pending))
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
