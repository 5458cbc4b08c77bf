//! Files bulletin writes beside the list: the mode a new one gets (it
//! holds readers' addresses), a rewrite's mode, owner and group kept, and
//! whole lines appended to the side files (history, confirmations,
//! damaged lines).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::audience::list_file::list_dir;

/// The mode of a file bulletin creates beside the list (a new list, its
/// history, its lock, its damaged lines): 0600, or 0640 when the folder is
/// shared with a group (setgid or group-writable), so the group's `serve`
/// or editor can read it. They hold readers' addresses.
pub fn new_file_mode(dir: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(dir) {
        Ok(m) if m.permissions().mode() & 0o2020 != 0 => 0o640,
        _ => 0o600,
    }
}

/// Appends one CSV row to a side file (a ledger beside the list or in
/// `logs/`), each field made formula-safe, synced; a new file gets
/// `header` first.
pub fn append_record(path: &Path, header: &str, fields: &[&str]) -> io::Result<()> {
    let fresh = !path.exists();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(
        fields
            .iter()
            .map(|f| crate::audience::list_file::defuse(f).into_owned()),
    )
    .map_err(io::Error::other)?;
    let mut bytes = if fresh {
        header.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    bytes.extend(
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    );
    append_lines(path, &bytes)
}

/// Appends whole lines to a side file beside the list (its history, its
/// confirmations, its damaged lines), in one write, synced; created with
/// `new_file_mode`. A line left unfinished by a write that stopped
/// part-way is ended first, so it never swallows the new ones.
pub fn append_lines(path: &Path, lines: &[u8]) -> io::Result<()> {
    let mut file = open_append(path)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(lines.len() + 1);
    if len > 0 {
        let mut last = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend_from_slice(lines);
    file.write_all(&bytes)?;
    file.sync_data()
}

/// Opens `path` for appending, created with `new_file_mode` if missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(new_file_mode(&list_dir(path)))
        .open(path)
}

/// Gives the new file the list's mode, owner and group, so a rewrite run
/// by another user (a web server's) does not lock the editor out, nor the
/// editor's `--compact` the server. Only root may give a file away; anyone
/// else keeps their own uid but sets the group (any group they are in).
/// A list that did not exist gets `new_file_mode`.
pub(crate) fn keep_owner_and_mode(list: &Path, new: &File) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let denied = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
    match std::fs::metadata(list) {
        Ok(old) => {
            if let Err(e) = std::os::unix::fs::fchown(new, Some(old.uid()), Some(old.gid())) {
                if !denied(&e) {
                    return Err(e);
                }
                if let Err(e) = std::os::unix::fs::fchown(new, None, Some(old.gid()))
                    && !denied(&e)
                {
                    return Err(e);
                }
            }
            new.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => new.set_permissions(
            std::fs::Permissions::from_mode(new_file_mode(&list_dir(list))),
        ),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_files_unfinished_line_is_ended_before_the_next_append() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("list.bounces.csv");
        std::fs::write(&path, "time,email\n2022-08-01T00:00:00Z,ann@x.or").expect("write");
        append_lines(&path, b"2022-08-02T00:00:00Z,bo@x.org\n").expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "time,email\n2022-08-01T00:00:00Z,ann@x.or\n2022-08-02T00:00:00Z,bo@x.org\n"
        );
    }
}
