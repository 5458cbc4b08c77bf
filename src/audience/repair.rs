//! The list's end made whole before an append: a last line left
//! unfinished (a write that stopped part-way, a hand edit without a line
//! break) is ended by appending, copied to `<list>.damaged` and reported
//! with its line, so the next row starts on a line of its own and no
//! fragment swallows it. Nothing is ever cut off the list.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::audience::consent::judge;
use crate::audience::files::append_lines;
use crate::audience::list_file::undefuse;
use crate::audience::rows::{Row, RowReader, ended_mark};
use crate::audience::subscribers::Columns;
use crate::input::diagnostic::Diagnostic;
use crate::input::email::Email;

/// `<list>.damaged` beside the list: unfinished lines moved out of it.
pub fn damaged_path(list: &Path) -> PathBuf {
    let mut name = list.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    list.with_file_name(name)
}

/// What to write before the next row so that it starts a line of its
/// own: nothing when the list ends with a line break, a line break when
/// its last line is a whole row that only lacks one, and for a last line
/// that is not a whole row (a write that stopped part-way), the mark that
/// keeps it damaged (`rows::ended_mark`) and a line break. Such a line is
/// also copied to `<list>.damaged` and reported with its line. The list is
/// never cut: a send's watcher and `serve` read it by offset and count on
/// it only growing.
pub fn repair_end(list: &Path, file: &File, columns: &Columns) -> Result<Vec<u8>, Diagnostic> {
    let io_err = |e: io::Error| Diagnostic::new(list, None, format!("cannot be written: {e}"));
    let len = file.metadata().map_err(io_err)?.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1).map_err(io_err)?;
    if last[0] == b'\n' {
        return Ok(Vec::new());
    }
    // Find where the last line starts, reading back in blocks.
    let mut start = len;
    let mut block = vec![0u8; 1 << 16];
    while start > 0 {
        let from = start.saturating_sub(block.len() as u64);
        let chunk = &mut block[..usize::try_from(start - from).unwrap_or(0)];
        file.read_exact_at(chunk, from).map_err(io_err)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            start = from + i as u64 + 1;
            break;
        }
        start = from;
    }
    if start == 0 {
        // The header itself: it only lacks its line break.
        return Ok(b"\n".to_vec());
    }
    let mut fragment = vec![0u8; usize::try_from(len - start).unwrap_or(0)];
    file.read_exact_at(&mut fragment, start).map_err(io_err)?;
    let mut reader = RowReader::starting_at(&fragment[..], 2, true);
    reader.set_width(columns.headers.len());
    let mut row = Row::default();
    let whole = reader.read(&mut row).map_err(io_err)?
        && judge(&row, columns).says.is_ok()
        && row
            .text(columns.email)
            .is_some_and(|e| Email::parse(undefuse(e)).is_ok());
    if whole {
        return Ok(b"\n".to_vec());
    }
    // The line number, counted only in this rare case.
    let mut line = 1u64;
    let mut at = 0u64;
    while at < start {
        let n = usize::try_from((start - at).min(block.len() as u64)).unwrap_or(0);
        file.read_exact_at(&mut block[..n], at).map_err(io_err)?;
        line += memchr::memchr_iter(b'\n', &block[..n]).count() as u64;
        at += n as u64;
    }
    let damaged = damaged_path(list);
    let mut kept = fragment.clone();
    kept.push(b'\n');
    append_lines(&damaged, &kept)
        .map_err(|e| Diagnostic::new(&damaged, None, format!("cannot be written: {e}")))?;
    eprintln!(
        "{}",
        Diagnostic::new(
            list,
            Some(usize::try_from(line).unwrap_or(usize::MAX)),
            format!(
                "an unfinished row ({:?}) was ended and copied to {}; its reader (if it names one) is not mailed until you fix the line",
                String::from_utf8_lossy(&fragment),
                damaged.display()
            ),
        )
    );
    let mut end = ended_mark(columns.headers.len());
    end.push(b'\n');
    Ok(end)
}
