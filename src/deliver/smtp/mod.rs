//! One SMTP connection of our own: TCP with TCP_NODELAY, then TLS of our
//! own (implicit, or after STARTTLS), AUTH, then one message at a time,
//! pipelined and written in one go whether or not TLS is on; every
//! exchange under our own timeout (lettre's covers only the TCP connect). Every failure says at which
//! stage of the session it came, so the policy can tell a reader's
//! problem from the sender's or the relay's.

use std::fmt;
use std::net::IpAddr;
use std::task::Poll;
use std::time::Duration;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailParameter};
use rustls::pki_types::ServerName;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::input::config::{Security, Smtp};
mod failure;
pub mod tls;
mod wire;

use failure::io_reason;
pub use failure::{Failure, Stage};
use tls::{RawReply, read_raw_reply, tls_connector};
use wire::{RawWriter, Stream, WriteBehind};

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
            _ => crate::input::email::ascii_domain(from).domain().to_owned(),
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
    /// EHLO, STARTTLS, each exactly one reply. Returns a greeting of our
    /// own for lettre to read once TLS is up, as if the session began
    /// there (it then sends EHLO again, over TLS, as RFC 3207 asks):
    /// nothing read in plaintext reaches the session.
    async fn starttls_preamble(&self, tcp: &mut TcpStream) -> Result<Vec<u8>, Failure> {
        self.raw_exchange(tcp, Stage::Greeting, None, 220).await?;
        let hello = format!("EHLO {}\r\n", self.hello);
        let ehlo = self
            .raw_exchange(tcp, Stage::Ehlo, Some(&hello), 250)
            .await?;
        if !ehlo
            .lines
            .iter()
            .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"))
        {
            // A relay on this machine is often a test or local one with
            // no TLS at all: say how to send to it.
            let local = matches!(self.host.as_str(), "127.0.0.1" | "::1" | "localhost");
            return Err(Failure::Fatal {
                detail: format!(
                    "{} does not offer STARTTLS{}",
                    self.describe(),
                    if local {
                        " (a local relay without TLS needs `security = \"none\"` in [smtp])"
                    } else {
                        ""
                    }
                ),
            });
        }
        self.raw_exchange(tcp, Stage::Starttls, Some("STARTTLS\r\n"), 220)
            .await?;
        Ok(format!("220 {} ESMTP (over TLS)\r\n", self.host).into_bytes())
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
