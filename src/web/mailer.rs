//! Confirmation mail, sent from a queue by one task over one SMTP
//! connection (opened when needed, kept while mail keeps coming), so a
//! burst of sign-ups is one session and a slow relay never holds up a
//! page. A mail that cannot be sent after a few tries is reported on
//! stderr; the reader can sign up again for a new one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::compose::confirm;
use crate::compose::dkim::Signer;
use crate::deliver::smtp::{Connection, Server};
use crate::input::checked::Line;
use crate::input::config::Newsletter;
use crate::input::email::{Email, ascii_domain};

/// One confirmation to send.
pub struct Confirmation {
    pub email: Email,
    pub name: Option<Line>,
    pub link: String,
}

#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::UnboundedSender<Confirmation>,
}

/// Tries for one mail, the waits between them doubling from this.
const TRIES: u32 = 3;
const FIRST_WAIT: Duration = Duration::from_millis(500);

impl Mailer {
    pub fn start(newsletter: Newsletter, server: Server, dkim: Option<Signer>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::new((newsletter, server, dkim)), rx));
        Self { tx }
    }

    pub fn send(&self, confirmation: Confirmation) {
        if self.tx.send(confirmation).is_err() {
            eprintln!("the confirmation mailer stopped; a sign-up got no mail");
        }
    }
}

async fn run(
    shared: Arc<(Newsletter, Server, Option<Signer>)>,
    mut rx: mpsc::UnboundedReceiver<Confirmation>,
) {
    let (newsletter, server, dkim) = &*shared;
    let from = ascii_domain(&newsletter.from.email).into_owned();
    let mut conn: Option<Connection> = None;
    while let Some(c) = rx.recv().await {
        let mut wait = FIRST_WAIT;
        for attempt in 1..=TRIES {
            let bytes = match confirm::build(
                newsletter,
                &c.email,
                c.name.as_ref(),
                &c.link,
                crate::now().unwrap_or_else(|_| std::time::SystemTime::now()),
                dkim.as_ref(),
            ) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("confirmation to {} not built: {e}", c.email);
                    break;
                }
            };
            if conn.is_none() {
                conn = server.connect().await.ok();
            }
            let result = match conn.as_mut() {
                Some(open) => {
                    open.send(
                        server,
                        &from,
                        &c.email.envelope(),
                        async { Ok(bytes) },
                        async { Ok(()) },
                    )
                    .await
                }
                None => Err(crate::deliver::smtp::Failure::Unreachable {
                    detail: format!("cannot connect to {}", server.describe()),
                }),
            };
            match result {
                Ok(_) => break,
                Err(f) => {
                    conn = None;
                    if attempt == TRIES {
                        eprintln!("confirmation to {} not sent: {f}", c.email);
                    } else {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                }
            }
        }
        // Nothing more queued: let the connection go rather than hold it.
        if rx.is_empty()
            && let Some(open) = conn.take()
        {
            open.quit(server).await;
        }
    }
}
