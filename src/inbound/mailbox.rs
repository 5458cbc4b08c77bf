//! The mail to read, and how a message is marked done. What makes a
//! message done is its id in the bounce history (`inbound::apply`), never
//! a flag a mail client can change: every message is looked at, and those
//! already processed are passed over. Marking is a courtesy to people who
//! read the mailbox: a Maildir message moves to cur/ with the Seen flag,
//! an IMAP one is flagged `\Seen`, an mbox's ids go to a state file beside
//! it. `--delete-processed` deletes done messages instead (over IMAP with
//! `UID EXPUNGE`, which touches only ours).

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One message read: what names it across runs (its Message-ID, or a hash
/// of its bytes) and where it is. The bytes are not kept: a mailbox of
/// 100,000 messages is read one message at a time.
pub struct Mail {
    pub id: String,
    path: Option<PathBuf>,
    uid: Option<u32>,
}

/// What a pass over the mailbox found: the new messages with what `visit`
/// kept of each, and the processed ones not yet marked.
pub type Read<T> = (Vec<(Mail, T)>, Vec<Mail>);

impl Mail {
    /// A message over IMAP known by its UID.
    pub fn at_uid(id: String, uid: u32) -> Self {
        Self {
            id,
            path: None,
            uid: Some(uid),
        }
    }
}

pub enum Mailbox {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Imap(Box<crate::inbound::imap::ImapBox>),
}

fn cannot(path: &Path, e: io::Error) -> anyhow::Error {
    anyhow::anyhow!("{}: cannot be read: {e}", path.display())
}

/// The id a message goes by: its Message-ID header, else a hash of it.
pub fn mail_id(bytes: &[u8]) -> String {
    let head_end = memchr::memmem::find(bytes, b"\n\n")
        .or_else(|| memchr::memmem::find(bytes, b"\r\n\r\n"))
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("message-id")
        {
            let mut value = value.trim().to_owned();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next.trim());
                lines.next();
            }
            if !value.is_empty() {
                return value;
            }
        }
    }
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Whether a Maildir file name (`unique:2,FLAGS`) has the Seen flag.
fn seen(name: &str) -> bool {
    name.rsplit_once(":2,")
        .is_some_and(|(_, flags)| flags.contains('S'))
}

impl Mailbox {
    /// Calls `visit` with each message whose id is not in `done` (oldest
    /// name first) and its bytes; keeps the messages for which it returns
    /// something, with it. Also returns the messages already processed but
    /// not marked (a run killed before marking, a person who marked one
    /// unread): marking them is a courtesy, never a second processing.
    pub fn read_new<T>(
        &self,
        done: &std::collections::HashSet<String>,
        mut visit: impl FnMut(&Mail, &[u8]) -> Option<T>,
    ) -> anyhow::Result<Read<T>> {
        let mut out = Vec::new();
        let mut unmarked = Vec::new();
        match self {
            Mailbox::Maildir(dir) => {
                for sub in ["new", "cur"] {
                    let folder = dir.join(sub);
                    let entries = std::fs::read_dir(&folder).map_err(|e| cannot(&folder, e))?;
                    let mut names: Vec<PathBuf> = entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect();
                    names.sort();
                    for path in names {
                        let bytes = std::fs::read(&path).map_err(|e| cannot(&path, e))?;
                        let mail = Mail {
                            id: mail_id(&bytes),
                            path: Some(path),
                            uid: None,
                        };
                        if done.contains(&mail.id) {
                            if sub == "new"
                                || !seen(&mail.path.as_deref().map_or(String::new(), |p| {
                                    p.file_name()
                                        .unwrap_or_default()
                                        .to_string_lossy()
                                        .into_owned()
                                }))
                            {
                                unmarked.push(mail);
                            }
                            continue;
                        }
                        if let Some(kept) = visit(&mail, &bytes) {
                            out.push((mail, kept));
                        }
                    }
                }
            }
            Mailbox::Mbox(file) => {
                let f = std::fs::File::open(file).map_err(|e| cannot(file, e))?;
                let mut error = None;
                for_each_mbox_message(io::BufReader::new(f), |bytes| {
                    let mail = Mail {
                        id: mail_id(&bytes),
                        path: None,
                        uid: None,
                    };
                    if !done.contains(&mail.id)
                        && let Some(kept) = visit(&mail, &bytes)
                    {
                        out.push((mail, kept));
                    }
                })
                .unwrap_or_else(|e| error = Some(e));
                if let Some(e) = error {
                    return Err(cannot(file, e));
                }
            }
            Mailbox::Imap(imap) => imap.read_new(done, &mut unmarked, |uid, bytes| {
                let mail = Mail {
                    id: mail_id(bytes),
                    path: None,
                    uid: Some(uid),
                };
                if done.contains(&mail.id) {
                    return;
                }
                if let Some(kept) = visit(&mail, bytes) {
                    out.push((mail, kept));
                }
            })?,
        }
        Ok((out, unmarked))
    }

    /// Marks messages done: after their rows are on disk, never before.
    pub fn mark_done(&self, mails: &[Mail], delete: bool) -> anyhow::Result<()> {
        match self {
            Mailbox::Maildir(dir) => {
                for mail in mails {
                    let Some(path) = &mail.path else { continue };
                    if delete {
                        std::fs::remove_file(path).map_err(|e| cannot(path, e))?;
                        continue;
                    }
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    if seen(&name) && path.parent().is_some_and(|p| p.ends_with("cur")) {
                        continue;
                    }
                    let new_name = match name.rsplit_once(":2,") {
                        Some((base, flags)) => {
                            let mut flags: Vec<char> = flags.chars().chain(['S']).collect();
                            flags.sort_unstable();
                            flags.dedup();
                            format!("{base}:2,{}", flags.into_iter().collect::<String>())
                        }
                        None => format!("{name}:2,S"),
                    };
                    let target = dir.join("cur").join(new_name);
                    std::fs::rename(path, &target).map_err(|e| cannot(path, e))?;
                }
                std::fs::File::open(dir.join("cur"))
                    .and_then(|d| d.sync_all())
                    .map_err(|e| cannot(dir, e))?;
                Ok(())
            }
            Mailbox::Imap(imap) => {
                let uids: Vec<u32> = mails.iter().filter_map(|m| m.uid).collect();
                imap.mark(&uids, delete)
            }
            Mailbox::Mbox(file) => {
                let state = state_file(file);
                let lines: String = mails.iter().map(|m| format!("{}\n", m.id)).collect();
                crate::audience::files::append_lines(&state, lines.as_bytes())
                    .map_err(|e| cannot(&state, e))
            }
        }
    }
}

/// `FILE.bulletin-done`: the ids of the mbox's messages used, for a
/// person's reference (what counts is the bounce history).
fn state_file(mbox: &Path) -> PathBuf {
    let mut name = mbox.file_name().unwrap_or_default().to_os_string();
    name.push(".bulletin-done");
    mbox.with_file_name(name)
}

/// The messages of an mbox, one at a time: each starts at a line `From `;
/// `>From ` lines inside are unquoted (mboxrd).
fn for_each_mbox_message(
    mut reader: impl io::BufRead,
    mut each: impl FnMut(Vec<u8>),
) -> io::Result<()> {
    let mut current: Option<Vec<u8>> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.starts_with(b"From ") {
            if let Some(done) = current.take() {
                each(done);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(msg) = current.as_mut() {
            let quoted = line
                .iter()
                .position(|b| *b != b'>')
                .is_some_and(|n| n > 0 && line[n..].starts_with(b"From "));
            msg.extend_from_slice(if quoted { &line[1..] } else { &line });
        }
    }
    if let Some(done) = current {
        each(done);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_splits_at_from_lines_and_unquotes_them() {
        let mbox = b"From a@x Mon\nMessage-ID: <1@x>\n\nhi\n>From here\n\nFrom b@x Tue\nSubject: two\n\nbody\n";
        let mut msgs = Vec::new();
        for_each_mbox_message(&mbox[..], |m| msgs.push(m)).expect("read");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Message-ID: <1@x>\n\nhi\nFrom here\n\n".to_vec());
        assert_eq!(mail_id(&msgs[0]), "<1@x>");
        assert!(mail_id(&msgs[1]).starts_with("sha256:"));
    }

    #[test]
    fn the_seen_flag_is_read_from_the_name() {
        assert!(seen("123.abc:2,S"));
        assert!(seen("123.abc:2,RS"));
        assert!(!seen("123.abc:2,"));
        assert!(!seen("123.abc"));
    }
}
