//! What to do after each failed attempt, judged by the stage the reply
//! answers and what it is about (the table in ARCHITECTURE.md: only a
//! refusal about the reader's own mailbox is the reader's fault).

use super::refusal::{Blame, blame, enhanced_code};
use super::smtp::{Failure, Stage};

/// The decision after one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Try again later. `server_wide`: back the whole server off (421, a
    /// dropped set-up), and `drop_connection`: the connection is done.
    Retry {
        code: Option<u16>,
        detail: String,
        server_wide: bool,
        drop_connection: bool,
    },
    /// The relay refused this reader for good. The reader is `failed` for
    /// this issue; what it does to their status depends on `blame` (only
    /// their own mailbox bounces them), and every such refusal feeds the
    /// breaker, which stops the run when the same reply keeps coming.
    Refused {
        code: u16,
        detail: String,
        blame: Blame,
    },
    /// Nothing the relay said: this message cannot be sent to this reader
    /// (a UTF-8 local part without SMTPUTF8). Fails that reader alone.
    Failed { code: Option<u16>, detail: String },
    /// The message may have arrived; never resent in this run.
    Unknown { detail: String },
    /// No connection could be made: stops the run unless an earlier
    /// connection of this run succeeded (see `Health`).
    Unreachable { detail: String },
    /// About the sender, the message, the session or the relay: nothing
    /// else would get through, so the run stops and every reader stays due.
    Stop { code: Option<u16>, detail: String },
}

/// The enhanced status code (RFC 3463) of a reply text, as its class,
/// subject and detail: `5.7.1` -> (5, 7, 1). At the start, or in qmail's
/// trailing `(#5.7.1)`.
pub fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    enhanced_code(text)
}

/// Judges a failed attempt. `sender` is the message's envelope sender: a
/// refusal that names it is about us, not the reader.
pub fn classify(failure: Failure, sender: Option<&str>) -> Verdict {
    match failure {
        Failure::Reply { stage, code, text } => {
            let detail = format!("{code} {text}");
            if code == 421 || (code < 500 && stage.is_setup()) {
                // Closing, or not taking connections now: back off the
                // whole server and reconnect later.
                return Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: true,
                    drop_connection: true,
                };
            }
            if code < 500 {
                return Verdict::Retry {
                    code: Some(code),
                    detail,
                    server_wide: false,
                    drop_connection: false,
                };
            }
            let blame = blame(&text, sender);
            let stop = Verdict::Stop {
                code: Some(code),
                detail: format!("{stage}: {detail}"),
            };
            let refused = Verdict::Refused {
                code,
                detail: detail.clone(),
                blame,
            };
            if blame == Blame::Sender {
                return stop;
            }
            match stage {
                Stage::RcptTo => refused,
                Stage::Message => match (blame, enhanced_code(&text)) {
                    (Blame::Mailbox | Blame::Full, _) => refused,
                    // The mail system, the content, security or policy,
                    // or a message too long: about the message, so every
                    // reader would get the same.
                    (_, Some((_, 3 | 6 | 7, _)) | Some((_, 2, 3))) => stop,
                    (Blame::Unclear, None) if code == 552 => stop,
                    _ => refused,
                },
                _ => stop,
            }
        }
        Failure::Dropped {
            stage: Stage::Message,
            detail,
        } => Verdict::Unknown { detail },
        Failure::Dropped { stage, detail } if stage.is_setup() => Verdict::Unreachable { detail },
        Failure::Dropped { detail, .. } => Verdict::Retry {
            code: None,
            detail,
            server_wide: true,
            drop_connection: true,
        },
        Failure::Unreachable { detail } => Verdict::Unreachable { detail },
        Failure::Unsendable { detail } => Verdict::Failed { code: None, detail },
        Failure::Fatal { detail } => Verdict::Stop { code: None, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(stage: Stage, code: u16, text: &str) -> Verdict {
        classify(
            Failure::Reply {
                stage,
                code,
                text: text.into(),
            },
            Some("bounces+0123456789abcdef0123456789abcdef@example.org"),
        )
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Retry { .. } => "retry",
            Verdict::Failed { .. } => "failed",
            Verdict::Refused {
                blame: Blame::Mailbox,
                ..
            } => "bounced",
            Verdict::Refused {
                blame: Blame::Full, ..
            } => "full",
            Verdict::Refused { .. } => "refused",
            Verdict::Unknown { .. } => "unknown",
            Verdict::Unreachable { .. } => "unreachable",
            Verdict::Stop { .. } => "stop",
        }
    }

    /// ARCHITECTURE.md's table of stages and outcomes, row by row.
    #[test]
    fn replies_are_judged_by_the_stage_they_answer() {
        use Stage::*;
        let table: &[(Stage, u16, &str, &str)] = &[
            (Greeting, 554, "no SMTP service here", "stop"),
            (Greeting, 421, "busy", "retry"),
            (Ehlo, 550, "5.7.1 go away", "stop"),
            (Starttls, 454, "4.7.0 TLS not available", "retry"),
            (Auth, 535, "5.7.8 bad credentials", "stop"),
            (Auth, 454, "4.7.0 try later", "retry"),
            (MailFrom, 550, "5.7.1 Sender address rejected", "stop"),
            (MailFrom, 553, "5.7.1 not owned by user", "stop"),
            (MailFrom, 451, "4.3.0 try later", "retry"),
            (RcptTo, 550, "5.1.1 User unknown", "bounced"),
            (RcptTo, 552, "5.2.2 Mailbox full", "full"),
            (RcptTo, 501, "5.1.3 Bad recipient address syntax", "bounced"),
            (RcptTo, 550, "User unknown", "refused"),
            (RcptTo, 550, "mailbox unavailable", "refused"),
            (RcptTo, 550, "5.1.8 Bad sender's domain", "stop"),
            (RcptTo, 554, "5.7.1 <r@x.org>: Relay access denied", "stop"),
            (RcptTo, 550, "5.7.26 DMARC policy", "refused"),
            (
                RcptTo,
                550,
                "5.1.0 <bounces+0123456789abcdef0123456789abcdef@example.org>: Sender address rejected: User unknown in local recipient table",
                "stop",
            ),
            (RcptTo, 553, "sorry, no mailbox here (#5.1.1)", "bounced"),
            (RcptTo, 450, "4.2.0 greylisted", "retry"),
            (Data, 554, "5.5.1 no valid recipients", "stop"),
            (Message, 550, "5.1.1 User unknown", "bounced"),
            (Message, 552, "5.2.2 Mailbox full", "full"),
            (Message, 552, "5.2.3 Message too big", "stop"),
            (Message, 552, "Message size exceeds limit", "stop"),
            (
                Message,
                554,
                "5.7.1 Message rejected: Email address is not verified",
                "stop",
            ),
            (Message, 554, "5.6.0 bad content", "stop"),
            (Message, 554, "5.3.4 too big for system", "stop"),
            (
                Message,
                554,
                "Message rejected: Email address is not verified",
                "stop",
            ),
            (Message, 554, "Message rejected", "refused"),
            (Message, 550, "5.0.0 rejected", "refused"),
            (Message, 451, "4.3.0 queue full", "retry"),
            (Message, 421, "4.7.0 closing", "retry"),
        ];
        for (stage, code, text, want) in table {
            let got = reply(*stage, *code, text);
            assert_eq!(kind(&got), *want, "{stage} {code} {text}: {got:?}");
        }
    }

    #[test]
    fn a_stop_names_the_stage_and_quotes_the_server() {
        let Verdict::Stop { detail, code } =
            reply(Stage::MailFrom, 550, "5.7.1 Sender address rejected")
        else {
            panic!("not a stop");
        };
        assert_eq!(code, Some(550));
        assert_eq!(detail, "MAIL FROM: 550 5.7.1 Sender address rejected");
    }

    #[test]
    fn a_drop_after_the_message_is_unknown_during_set_up_unreachable_else_a_retry() {
        let drop = |stage| {
            classify(
                Failure::Dropped {
                    stage,
                    detail: "eof".into(),
                },
                None,
            )
        };
        assert_eq!(kind(&drop(Stage::Message)), "unknown");
        assert_eq!(kind(&drop(Stage::Greeting)), "unreachable");
        assert_eq!(kind(&drop(Stage::RcptTo)), "retry");
        let unsendable = classify(
            Failure::Unsendable {
                detail: "no SMTPUTF8".into(),
            },
            None,
        );
        assert_eq!(kind(&unsendable), "failed");
    }
}
