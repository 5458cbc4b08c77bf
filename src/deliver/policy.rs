//! What to do after each failed attempt, judged by the stage the reply
//! answers (the table in the README: only a refusal about the recipient
//! blames the reader).

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
    /// This reader's address is refused for good.
    Failed { code: Option<u16>, detail: String },
    /// A refusal that may be the reader's or the sender's: the reader is
    /// `failed` unless the same reply comes for `BREAKER` readers in a row,
    /// which stops the run and makes them due again.
    Suspect { code: u16, detail: String },
    /// The message may have arrived; never resent in this run.
    Unknown { detail: String },
    /// No connection could be made: stops the run unless an earlier
    /// connection of this run succeeded (see `Health`).
    Unreachable { detail: String },
    /// About the sender, the message, the session or the relay: nothing
    /// else would get through, so the run stops and every reader stays due.
    Stop { code: Option<u16>, detail: String },
}

/// The enhanced status code (RFC 3463) a reply text starts with, as its
/// class, subject and detail: `5.7.1` -> (5, 7, 1).
pub fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    let first = text.split_whitespace().next()?;
    let mut parts = first.split('.');
    let class = parts.next()?.parse().ok()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
}

/// Whether an enhanced status is about the recipient's mailbox: x.1.x
/// (address) and x.2.x (mailbox), less x.1.7 and x.1.8 (the sender's
/// address) and x.2.3 (the message is too long).
fn about_the_mailbox(subject: u16, detail: u16) -> bool {
    match subject {
        1 => !matches!(detail, 7 | 8),
        2 => detail != 3,
        _ => false,
    }
}

pub fn classify(failure: Failure) -> Verdict {
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
            let enhanced = enhanced_status(&text).map(|(_, subject, detail)| (subject, detail));
            let stop = Verdict::Stop {
                code: Some(code),
                detail: format!("{stage}: {detail}"),
            };
            match stage {
                Stage::RcptTo => match enhanced {
                    None => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    Some((s, d)) if about_the_mailbox(s, d) => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    // x.1.7 and x.1.8: the sender's address.
                    Some((1, _)) => stop,
                    // Policy (5.7.x) and the rest may be about the
                    // recipient (its server blocks us) or about us.
                    Some(_) => Verdict::Suspect { code, detail },
                },
                Stage::Message => match enhanced {
                    Some((s, d)) if about_the_mailbox(s, d) => Verdict::Failed {
                        code: Some(code),
                        detail,
                    },
                    // The sender (x.1.7, x.1.8), the mail system, the
                    // content, security or policy: never the reader's fault.
                    Some((1 | 2 | 3 | 6 | 7, _)) => stop,
                    _ if code == 552 => stop,
                    _ => Verdict::Suspect { code, detail },
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
        classify(Failure::Reply {
            stage,
            code,
            text: text.into(),
        })
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Retry { .. } => "retry",
            Verdict::Failed { .. } => "failed",
            Verdict::Suspect { .. } => "suspect",
            Verdict::Unknown { .. } => "unknown",
            Verdict::Unreachable { .. } => "unreachable",
            Verdict::Stop { .. } => "stop",
        }
    }

    /// The README's table of stages and outcomes, row by row.
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
            (RcptTo, 550, "5.1.1 User unknown", "failed"),
            (RcptTo, 552, "5.2.2 Mailbox full", "failed"),
            (RcptTo, 501, "5.1.3 Bad recipient address syntax", "failed"),
            (RcptTo, 550, "User unknown", "failed"),
            (RcptTo, 550, "5.1.8 Bad sender's domain", "stop"),
            (RcptTo, 554, "5.7.1 Relay access denied", "suspect"),
            (RcptTo, 450, "4.2.0 greylisted", "retry"),
            (Data, 554, "5.5.1 no valid recipients", "stop"),
            (Message, 550, "5.1.1 User unknown", "failed"),
            (Message, 552, "5.2.2 Mailbox full", "failed"),
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
                "suspect",
            ),
            (Message, 550, "5.0.0 rejected", "suspect"),
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
            classify(Failure::Dropped {
                stage,
                detail: "eof".into(),
            })
        };
        assert_eq!(kind(&drop(Stage::Message)), "unknown");
        assert_eq!(kind(&drop(Stage::Greeting)), "unreachable");
        assert_eq!(kind(&drop(Stage::RcptTo)), "retry");
        let unsendable = classify(Failure::Unsendable {
            detail: "no SMTPUTF8".into(),
        });
        assert_eq!(kind(&unsendable), "failed");
    }

    #[test]
    fn enhanced_status_codes_are_read_from_the_reply_text() {
        assert_eq!(enhanced_status("5.7.1 Sender rejected"), Some((5, 7, 1)));
        assert_eq!(enhanced_status("4.2.0"), Some((4, 2, 0)));
        assert_eq!(enhanced_status("Message rejected 5.7.1"), None);
        assert_eq!(enhanced_status("1.2.3 x"), None);
        assert_eq!(enhanced_status(""), None);
    }
}
