//! Where a feed's draft goes and how it is written: a free name under
//! `issues/` (never a file, a delivery log or another draft's), and the
//! file put in place whole, never over one that is there.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::state;
use crate::input::config::Config;
use crate::input::issue::IssueDate;

/// `issues/<date>.toml`, or `-2`, `-3`… when that is taken, by a file,
/// by a delivery log of that name (an issue sent and since moved), or by
/// a pending draft of any feed (`held`: one decided on and not written
/// yet).
pub(super) fn free_issue_path(
    config: &Config,
    issues: &Path,
    date: IssueDate,
    held: &[PathBuf],
) -> anyhow::Result<PathBuf> {
    let stem = format!("{:04}-{:02}-{:02}", date.year, date.month, date.day);
    for n in 1..1000 {
        let name = if n == 1 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let path = issues.join(format!("{name}.toml"));
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        if !path.exists()
            && !held.contains(&absolute)
            && !crate::deliver::journal::log_path(config, &name, None).exists()
        {
            return Ok(path);
        }
    }
    bail!("{}: no free name for {stem}'s draft", issues.display())
}

/// Why a draft was not written, and whether it is in place all the same
/// (renamed into place; only the folder's sync failed).
pub(super) struct WriteFailed {
    /// Whether the file is in place all the same.
    pub placed: bool,
    pub error: anyhow::Error,
}

/// The draft written whole and only where no file is: a temporary file
/// beside it, synced, then linked into place (refused if one appeared).
pub(super) fn write_new(path: &Path, text: &str) -> Result<(), WriteFailed> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let failed = |placed: bool| {
        move |e: std::io::Error| WriteFailed {
            placed,
            error: anyhow::anyhow!("{}: cannot be written: {e}", path.display()),
        }
    };
    std::fs::create_dir_all(dir).map_err(failed(false))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".draft")
        .tempfile_in(dir)
        .map_err(failed(false))?;
    tmp.write_all(text.as_bytes()).map_err(failed(false))?;
    tmp.as_file().sync_all().map_err(failed(false))?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            WriteFailed {
                placed: false,
                error: anyhow::anyhow!(
                    "{}: already exists; a draft never overwrites a file",
                    path.display()
                ),
            }
        } else {
            failed(false)(e.error)
        }
    })?;
    state::sync_dir(dir).map_err(failed(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_already_there_is_never_taken_for_the_draft() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("2022-08-01.toml");
        std::fs::write(&path, "someone else's").expect("write");
        let failed = write_new(&path, "draft").expect_err("refused");
        assert!(!failed.placed, "kept pending, it would be sent");
        assert!(failed.error.to_string().contains("already exists"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone else's"
        );
        write_new(&dir.path().join("new.toml"), "draft")
            .map_err(|f| f.error)
            .expect("written");
    }
}
