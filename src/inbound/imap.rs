//! The return mailbox over IMAP (async-imap on tokio, TLS by rustls, the
//! certificate always verified): the unseen messages fetched without
//! marking them (`BODY.PEEK[]`), then those used flagged `\Seen` (or
//! deleted with `--delete-processed`).

use std::cell::RefCell;

use async_imap::Session;
use futures_util::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::input::config::Imap;

type Tls = TlsStream<TcpStream>;

/// A logged-in session with the mailbox selected, and the runtime it runs on.
pub struct ImapBox {
    runtime: tokio::runtime::Runtime,
    session: RefCell<Session<Tls>>,
    describe: String,
}

impl ImapBox {
    pub fn open(imap: &Imap, password: SecretString) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let describe = format!("imaps://{}:{}/{}", imap.host, imap.port, imap.mailbox);
        let fail =
            |what: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("{describe}: {what}: {e}");
        let session = runtime.block_on(async {
            let (connector, name) = crate::deliver::smtp::tls::connector(
                &imap.host,
                imap.tls_ca_file.as_deref(),
                "[bounces]",
            )?;
            let tcp = TcpStream::connect((imap.host.as_str(), imap.port))
                .await
                .map_err(|e| fail("cannot connect", &e))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| fail("TLS handshake failed", &e))?;
            let mut client = async_imap::Client::new(tls);
            client
                .read_response()
                .await
                .map_err(|e| fail("no greeting", &e))?
                .ok_or_else(|| anyhow::anyhow!("{describe}: the server closed the connection"))?;
            let mut session = client
                .login(&imap.username, password.expose_secret())
                .await
                .map_err(|(e, _)| fail("login refused", &e))?;
            session
                .select(&imap.mailbox)
                .await
                .map_err(|e| fail("cannot select the mailbox", &e))?;
            anyhow::Ok(session)
        })?;
        Ok(Self {
            runtime,
            session: RefCell::new(session),
            describe,
        })
    }

    /// Each unseen message: its UID and bytes.
    pub fn unseen(&self, mut each: impl FnMut(u32, &[u8])) -> anyhow::Result<()> {
        let describe = &self.describe;
        let mut session = self.session.borrow_mut();
        self.runtime.block_on(async {
            let mut uids: Vec<u32> = session
                .uid_search("UNSEEN")
                .await
                .map_err(|e| anyhow::anyhow!("{describe}: search failed: {e}"))?
                .into_iter()
                .collect();
            uids.sort_unstable();
            // In slices, so that a big mailbox is never held whole.
            for chunk in uids.chunks(500) {
                let set = uid_set(chunk);
                let mut fetches = session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: fetch failed: {e}"))?;
                while let Some(fetch) = fetches
                    .try_next()
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: fetch failed: {e}"))?
                {
                    if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                        each(uid, body);
                    }
                }
            }
            anyhow::Ok(())
        })
    }

    /// Flags the messages `\Seen`, or with `delete` removes them.
    pub fn mark(&self, uids: &[u32], delete: bool) -> anyhow::Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let describe = &self.describe;
        let mut session = self.session.borrow_mut();
        self.runtime.block_on(async {
            let flag = if delete {
                "+FLAGS (\\Seen \\Deleted)"
            } else {
                "+FLAGS (\\Seen)"
            };
            for chunk in uids.chunks(500) {
                let set = uid_set(chunk);
                let updates = session
                    .uid_store(&set, flag)
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: cannot flag: {e}"))?;
                let _: Vec<_> = updates
                    .try_collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: cannot flag: {e}"))?;
            }
            if delete {
                let gone = session
                    .expunge()
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: cannot expunge: {e}"))?;
                let _: Vec<_> = gone
                    .try_collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: cannot expunge: {e}"))?;
            }
            anyhow::Ok(())
        })
    }
}

/// `1,5,9`: UIDs as IMAP takes a set of them.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Drop for ImapBox {
    fn drop(&mut self) {
        let session = self.session.get_mut();
        let _ = self.runtime.block_on(session.logout());
    }
}
