//! The rules that hold the source tree together (ARCHITECTURE.md), checked
//! on the files themselves: each folder uses only the stages before it, no
//! file is over 500 lines, and every file says what it is in a `//!` line.

use std::path::{Path, PathBuf};

/// The stages in pipeline order: each may use only those before it.
const STAGES: [&str; 7] = [
    "input", "audience", "compose", "deliver", "web", "inbound", "commands",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The crate's top-level modules a file names as `crate::name`.
fn uses(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .match_indices("crate::")
        .map(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn each_stage_uses_only_the_stages_before_it() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(src()).expect("under src");
        let folder = rel.components().next().expect("a part");
        let folder = folder.as_os_str().to_string_lossy();
        let Some(rank) = STAGES.iter().position(|s| *s == folder) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read");
        for used in uses(&text) {
            if let Some(other) = STAGES.iter().position(|s| *s == used)
                && other > rank
            {
                broken.push(format!("{} uses crate::{used}", rel.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn src_has_few_top_level_entries_and_every_file_is_short_and_says_what_it_is() {
    let top = std::fs::read_dir(src()).expect("src").count();
    assert!(top <= 10, "src/ has {top} entries");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let lines = text.lines().count();
        assert!(lines <= 500, "{}: {lines} lines", file.display());
        assert!(
            text.starts_with("//!"),
            "{}: no //! line first",
            file.display()
        );
    }
}

#[test]
fn the_use_finder_finds_what_a_file_names() {
    assert_eq!(
        uses("use crate::input::x;\nfn f() { crate::deliver::y(); crate::input::z }"),
        vec!["deliver".to_owned(), "input".to_owned()]
    );
}
