//! The return mailbox over IMAP (async-imap on tokio, TLS by rustls, the
//! certificate always verified): every message's header fetched without
//! marking it (`BODY.PEEK[HEADER]`), the ones not yet processed fetched
//! whole (`BODY.PEEK[]`), then those used flagged `\Seen`, or with
//! `--delete-processed` deleted by `UID EXPUNGE` (UIDPLUS), which removes
//! only the messages named, never another client's `\Deleted` ones.

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

    /// Each message whose id (`mailbox::mail_id`) is not in `done`: its
    /// UID and bytes. The Seen flag is not looked at: a person reading the
    /// mailbox changes it.
    pub fn read_new(
        &self,
        done: &std::collections::HashSet<String>,
        unmarked: &mut Vec<crate::inbound::mailbox::Mail>,
        mut each: impl FnMut(u32, &[u8]),
    ) -> anyhow::Result<()> {
        let describe = &self.describe;
        let mut session = self.session.borrow_mut();
        self.runtime.block_on(async {
            let fail = |what: &str, e: &dyn std::fmt::Display| {
                anyhow::anyhow!("{describe}: {what} failed: {e}")
            };
            let mut uids: Vec<u32> = session
                .uid_search("ALL")
                .await
                .map_err(|e| fail("search", &e))?
                .into_iter()
                .collect();
            uids.sort_unstable();
            // Headers first: the processed ones are not fetched whole.
            let mut wanted = Vec::new();
            for chunk in uids.chunks(500) {
                let mut fetches = session
                    .uid_fetch(uid_set(chunk), "(UID FLAGS BODY.PEEK[HEADER])")
                    .await
                    .map_err(|e| fail("fetch", &e))?;
                while let Some(fetch) = fetches.try_next().await.map_err(|e| fail("fetch", &e))? {
                    if let Some(uid) = fetch.uid {
                        let known = fetch
                            .header()
                            .map(crate::inbound::mailbox::mail_id)
                            .filter(|id| !id.starts_with("sha256:") && done.contains(id));
                        match known {
                            None => wanted.push(uid),
                            Some(id) => {
                                let seen = fetch
                                    .flags()
                                    .any(|f| matches!(f, async_imap::types::Flag::Seen));
                                if !seen {
                                    unmarked.push(crate::inbound::mailbox::Mail::at_uid(id, uid));
                                }
                            }
                        }
                    }
                }
            }
            wanted.sort_unstable();
            // In slices, so that a big mailbox is never held whole.
            for chunk in wanted.chunks(500) {
                let mut fetches = session
                    .uid_fetch(uid_set(chunk), "(UID BODY.PEEK[])")
                    .await
                    .map_err(|e| fail("fetch", &e))?;
                while let Some(fetch) = fetches.try_next().await.map_err(|e| fail("fetch", &e))? {
                    if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                        each(uid, body);
                    }
                }
            }
            anyhow::Ok(())
        })
    }

    /// Flags the messages `\Seen`, or with `delete` removes them: flagged
    /// `\Deleted`, then `UID EXPUNGE` of exactly them. A server without
    /// UIDPLUS has only the plain `EXPUNGE`, which would also remove what
    /// another client marked deleted: there the messages are only flagged
    /// `\Seen`, and the run says so.
    pub fn mark(&self, uids: &[u32], delete: bool) -> anyhow::Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let describe = &self.describe;
        let mut session = self.session.borrow_mut();
        self.runtime.block_on(async {
            let mut delete = delete;
            if delete {
                let caps = session
                    .capabilities()
                    .await
                    .map_err(|e| anyhow::anyhow!("{describe}: CAPABILITY failed: {e}"))?;
                if !caps.has_str("UIDPLUS") {
                    eprintln!(
                        "{describe}: the server has no UIDPLUS, so deleting only our messages is not possible; they were flagged \\Seen instead"
                    );
                    delete = false;
                }
            }
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
                if delete {
                    let gone = session
                        .uid_expunge(&set)
                        .await
                        .map_err(|e| anyhow::anyhow!("{describe}: cannot expunge: {e}"))?;
                    let _: Vec<_> = gone
                        .try_collect()
                        .await
                        .map_err(|e| anyhow::anyhow!("{describe}: cannot expunge: {e}"))?;
                }
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
