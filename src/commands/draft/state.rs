//! `feed-state.json` beside the config: for each feed, the ids of the
//! entries drafted, the validators of its last read, and the draft being
//! written or sent. Its one writer and reader; every write is whole (a
//! temporary file synced, renamed over it, the folder synced), so a crash
//! leaves the old state or the new, never half of one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The state file's name, in the config's folder.
pub const FILE_NAME: &str = "feed-state.json";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The format, for a later change of it.
    pub version: u32,
    /// By feed: its URL, or the file's path as given.
    pub feeds: BTreeMap<String, FeedState>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedState {
    /// Entries drafted (and, with `--send`, sent): never drafted again.
    #[serde(default)]
    pub done: Vec<String>,
    #[serde(default)]
    pub validators: Validators,
    /// Drafts decided on and not finished: a file maybe not written yet,
    /// or one to be sent that has readers still due. Each run with
    /// `--send` sends them before anything new is drafted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
}

/// What the server said identifies the feed's version (sent back as
/// `If-None-Match` and `If-Modified-Since`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The issue file: its existence says it was written (whole, as it is
    /// renamed into place).
    pub path: PathBuf,
    pub ids: Vec<String>,
    /// Whether the run that wrote it meant to send it.
    pub send: bool,
    /// Set once the file is written: a written draft that is gone was
    /// taken away by the editor, and its entries are not drafted again.
    #[serde(default)]
    pub written: bool,
    /// When it was first sent (Unix seconds): a draft to be sent that
    /// still has readers due after `GIVE_UP_AFTER` is let go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// How long a draft to be sent stays pending for readers whose servers
/// keep deferring it (a mailbox full for weeks): each `draft --send` tries
/// them again until then. After it the draft is done; its readers are
/// still due in its delivery log, for `bulletin send` when the editor
/// chooses, never written off.
pub const GIVE_UP_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

impl FeedState {
    /// Whether an entry was drafted already, or is in a pending draft.
    pub fn taken(&self, id: &str) -> bool {
        self.done.iter().any(|d| d == id)
            || self.pending.iter().any(|p| p.ids.iter().any(|d| d == id))
    }

    /// The pending draft at `path`, its entries recorded as done.
    pub fn finish(&mut self, path: &Path) {
        let (finished, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.path == path);
        self.pending = kept;
        for p in finished {
            for id in p.ids {
                if !self.done.contains(&id) {
                    self.done.push(id);
                }
            }
        }
    }

    /// The pending draft at `path` forgotten: its entries are new again.
    pub fn forget(&mut self, path: &Path) {
        self.pending.retain(|p| p.path != path);
    }

    /// Every path a feed's pending draft holds (written or not): no other
    /// draft may take it.
    pub fn held_paths(state: &State) -> Vec<PathBuf> {
        state
            .feeds
            .values()
            .flat_map(|f| f.pending.iter().map(|p| p.path.clone()))
            .collect()
    }

    pub fn pending_at(&mut self, path: &Path) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| p.path == path)
    }
}

/// Held for a whole `draft` run: two runs on one config (a cron line
/// firing while the last one still sends) would draft the same entries.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// `.<state file name>.lock` beside it, taken or refused at once.
    pub fn take(state: &Path) -> anyhow::Result<RunLock> {
        let name = state.file_name().unwrap_or_default().to_string_lossy();
        let path = state.with_file_name(format!(".{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: cannot be opened: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "{}: another `bulletin draft` is running for this config; nothing was done",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                anyhow::bail!("{}: cannot be locked: {e}", path.display())
            }
        }
    }
}

impl State {
    /// The state beside the config; none yet is an empty one.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => anyhow::bail!("{}: cannot be read: {e}", path.display()),
        };
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: not a feed state bulletin wrote ({e}); move it away to start afresh (every entry in the feed is then new)",
                path.display(),
                e.line()
            )
        })
    }

    pub fn feed(&mut self, key: &str) -> &mut FeedState {
        self.feeds.entry(key.to_owned()).or_default()
    }

    /// Written whole: a temporary file beside it, synced, renamed over it,
    /// and the folder synced so the rename itself is on disk.
    pub fn save(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = 1;
        let dir = path.parent().unwrap_or(Path::new("."));
        let text = serde_json::to_string_pretty(self).context("the feed state")?;
        let failed =
            |e: std::io::Error| anyhow::anyhow!("{}: cannot be written: {e}", path.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".feed-state")
            .tempfile_in(dir)
            .map_err(failed)?;
        tmp.write_all(text.as_bytes()).map_err(failed)?;
        tmp.write_all(b"\n").map_err(failed)?;
        tmp.as_file().sync_all().map_err(failed)?;
        tmp.persist(path).map_err(|e| failed(e.error))?;
        sync_dir(dir).map_err(failed)
    }
}

/// A folder's entries (a new name, a rename) made durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })?
    .sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_back_as_written_and_a_pending_draft_finishes_into_done() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        let mut state = State::load(&path).expect("none yet");
        let feed = state.feed("https://example.org/feed.xml");
        feed.done.push("a".into());
        feed.pending.push(Pending {
            path: "issues/x.toml".into(),
            ids: vec!["b".into()],
            send: true,
            written: true,
            since: Some(1),
        });
        feed.pending.push(Pending {
            path: "issues/y.toml".into(),
            ids: vec!["c".into()],
            send: true,
            written: false,
            since: None,
        });
        feed.validators.etag = Some("\"v1\"".into());
        state.save(&path).expect("save");
        let mut again = State::load(&path).expect("load");
        let feed = again.feed("https://example.org/feed.xml");
        assert!(feed.taken("a") && feed.taken("b") && feed.taken("c") && !feed.taken("d"));
        feed.finish(Path::new("issues/x.toml"));
        assert_eq!(feed.done, ["a", "b"]);
        assert_eq!(feed.pending.len(), 1);
        feed.forget(Path::new("issues/y.toml"));
        assert!(feed.pending.is_empty() && !feed.taken("c"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[test]
    fn a_second_run_on_one_state_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        let first = RunLock::take(&path).expect("free");
        let e = RunLock::take(&path).expect_err("held").to_string();
        assert!(e.contains("another `bulletin draft` is running"), "{e}");
        drop(first);
        RunLock::take(&path).expect("free again");
    }

    #[test]
    fn a_damaged_state_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{\n\"version\": 1,\n\"feeds\": nope\n}").expect("write");
        let e = State::load(&path).expect_err("damaged").to_string();
        assert!(e.contains(&format!("{}:3:", path.display())), "{e}");
    }
}
