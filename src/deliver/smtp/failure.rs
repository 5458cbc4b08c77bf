//! How an SMTP exchange failed, and at which stage of the session: what
//! the policy needs to tell a reader's problem from the relay's.

use std::fmt;
use std::io;

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
    pub(super) fn from_lettre(err: &lettre::transport::smtp::Error, stage: Stage) -> Self {
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
pub(super) fn io_reason(err: &(dyn std::error::Error + 'static)) -> String {
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
