//! A scriptable SMTP server of our own, for what smtp-sink and aiosmtpd
//! cannot do: refuse at any stage with any reply (multi-line too), leave
//! out PIPELINING or SMTPUTF8, stall, drop the connection at any point,
//! and record the exact bytes it received. It listens on 127.0.0.1 and
//! stops when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The command a reply answers; `Dot` is the end of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Greeting,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Dot,
}

/// What the server does instead of its usual answer.
#[derive(Debug, Clone)]
pub enum Act {
    /// Answer with these lines (`550-first`, `550 last`), CRLF added.
    Reply(&'static str),
    Owned(String),
    /// Close the connection without a word.
    Drop,
    /// Wait, then answer as usual.
    Stall(Duration),
}

/// Decides, for each command and its argument (the address for MAIL and
/// RCPT), whether to act otherwise than accept.
pub type Rule = dyn Fn(Cmd, &str) -> Option<Act> + Send + Sync;

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub mail_from: String,
    pub rcpt: Vec<String>,
    /// The content, un-dot-stuffed, with its CRLF line ends.
    pub data: Vec<u8>,
    /// Whether the server answered 250 to its final dot.
    pub accepted: bool,
}

#[derive(Debug, Default)]
pub struct Log {
    pub messages: Vec<Message>,
    pub ehlo: Vec<String>,
    /// Every byte received, session after session.
    pub raw: Vec<u8>,
    /// MAIL commands that arrived with the next command already behind
    /// them: the client pipelined (RFC 2920).
    pub pipelined: usize,
    pub sessions: usize,
}

pub struct Scripted {
    pub port: u16,
    pub log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
}

/// Server features to offer in the EHLO reply.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub pipelining: bool,
    pub smtputf8: bool,
}

impl Default for Offer {
    fn default() -> Self {
        Self {
            pipelining: true,
            smtputf8: true,
        }
    }
}

impl Scripted {
    pub fn start(
        offer: Offer,
        rule: impl Fn(Cmd, &str) -> Option<Act> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let rule: Arc<Rule> = Arc::new(rule);
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (log, rule, stop) = (log2.clone(), rule.clone(), stop2.clone());
                        std::thread::spawn(move || {
                            let _ = session(stream, offer, &*rule, &log, &stop);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, log, stop }
    }

    /// Accepts everything, offering everything.
    pub fn accepting() -> Self {
        Self::start(Offer::default(), |_, _| None)
    }

    pub fn messages(&self) -> Vec<Message> {
        self.log.lock().expect("log").messages.clone()
    }

    /// Recipients of the messages the server accepted.
    pub fn delivered(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .messages()
            .into_iter()
            .filter(|m| m.accepted)
            .flat_map(|m| m.rcpt)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn act(out: &mut TcpStream, action: Option<Act>, usual: &str) -> std::io::Result<bool> {
    let text = match action {
        None => usual.to_owned(),
        Some(Act::Reply(r)) => r.to_owned(),
        Some(Act::Owned(r)) => r,
        Some(Act::Drop) => return Ok(false),
        Some(Act::Stall(d)) => {
            std::thread::sleep(d);
            usual.to_owned()
        }
    };
    let mut bytes = text.replace('\n', "\r\n");
    bytes.push_str("\r\n");
    out.write_all(bytes.as_bytes())?;
    Ok(true)
}

fn arg_address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}

fn session(
    stream: TcpStream,
    offer: Offer,
    rule: &Rule,
    log: &Mutex<Log>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // Pipelined replies are small writes in a row: without this, Nagle
    // holds each for the client's delayed ACK (~40 ms a message).
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    log.lock().expect("log").sessions += 1;
    if !act(&mut out, rule(Cmd::Greeting, ""), "220 scripted.test ESMTP")? {
        return Ok(());
    }
    let mut current: Option<Message> = None;
    let mut line = Vec::new();
    let read_line =
        |reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>| -> std::io::Result<bool> {
            line.clear();
            loop {
                match reader.read_until(b'\n', line) {
                    Ok(0) => return Ok(false),
                    Ok(_) if line.ends_with(b"\n") => return Ok(true),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
    while read_line(&mut reader, &mut line)? {
        log.lock().expect("log").raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = text
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let keep = match verb.as_str() {
            "EHLO" | "HELO" => {
                log.lock()
                    .expect("log")
                    .ehlo
                    .push(text[4..].trim().to_owned());
                let mut lines = vec!["250-scripted.test".to_owned()];
                if offer.pipelining {
                    lines.push("250-PIPELINING".into());
                }
                if offer.smtputf8 {
                    lines.push("250-SMTPUTF8".into());
                }
                lines.push("250 8BITMIME".into());
                act(&mut out, rule(Cmd::Ehlo, ""), &lines.join("\n"))?
            }
            "MAIL" => {
                if !reader.buffer().is_empty() {
                    log.lock().expect("log").pipelined += 1;
                }
                let from = arg_address(&text);
                current = Some(Message {
                    mail_from: text[10..].trim().to_owned(),
                    rcpt: vec![],
                    data: vec![],
                    accepted: false,
                });
                act(&mut out, rule(Cmd::Mail, &from), "250 2.1.0 Ok")?
            }
            "RCPT" => {
                let to = arg_address(&text);
                let action = rule(Cmd::Rcpt, &to);
                if action.is_none()
                    && let Some(m) = current.as_mut()
                {
                    m.rcpt.push(to);
                }
                act(&mut out, action, "250 2.1.5 Ok")?
            }
            "DATA" => {
                let refused = current.as_ref().is_none_or(|m| m.rcpt.is_empty());
                let action = if refused {
                    Some(Act::Reply("554 5.5.1 Error: no valid recipients"))
                } else {
                    rule(Cmd::Data, "")
                };
                let going_on = matches!(action, None | Some(Act::Stall(_)));
                if !act(&mut out, action, "354 End data with <CR><LF>.<CR><LF>")? {
                    return Ok(());
                }
                if going_on {
                    let mut data = Vec::new();
                    loop {
                        if !read_line(&mut reader, &mut line)? {
                            return Ok(());
                        }
                        log.lock().expect("log").raw.extend_from_slice(&line);
                        if line == b".\r\n" {
                            break;
                        }
                        let unstuffed = if line.starts_with(b"..") {
                            &line[1..]
                        } else {
                            &line[..]
                        };
                        data.extend_from_slice(unstuffed);
                    }
                    let mut message = current.take().unwrap_or(Message {
                        mail_from: String::new(),
                        rcpt: vec![],
                        data: vec![],
                        accepted: false,
                    });
                    message.data = data;
                    let action = rule(Cmd::Dot, message.rcpt.first().map_or("", |s| s.as_str()));
                    message.accepted = matches!(action, None | Some(Act::Stall(_)));
                    log.lock().expect("log").messages.push(message);
                    act(&mut out, action, "250 2.0.0 Ok: queued")?
                } else {
                    true
                }
            }
            "RSET" => {
                current = None;
                act(&mut out, None, "250 2.0.0 Ok")?
            }
            "QUIT" => {
                act(&mut out, None, "221 2.0.0 Bye")?;
                false
            }
            _ => act(&mut out, None, "250 Ok")?,
        };
        if !keep {
            return Ok(());
        }
    }
    Ok(())
}
