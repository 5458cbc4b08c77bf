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

/// One reader of delivery logs (ARCHITECTURE.md, "The delivery log"): no
/// code outside the journal splits a log line. Every file that opens a CSV
/// reader owns the one format it reads, named here; any other file doing
/// so, or naming the `logs` folder, fails this test.
#[test]
fn only_the_journal_reads_delivery_logs_and_each_csv_format_has_one_reader() {
    // Each file allowed a CSV reader, and what it reads.
    let owners = [
        ("deliver/journal/record.rs", "delivery logs"),
        ("audience/rows.rs", "the subscriber list"),
        ("audience/import.rs", "import files"),
        ("audience/ledger.rs", "the side-mail ledgers"),
        ("inbound/apply.rs", "the bounce history"),
    ];
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).expect("read");
        let reads_csv = ["csv::Reader", "csv::ReaderBuilder", "csv_core::Reader"]
            .iter()
            .any(|r| text.contains(r));
        if reads_csv && !owners.iter().any(|(owner, _)| *owner == rel) {
            broken.push(format!("{rel} opens a CSV reader of its own"));
        }
        let in_journal = rel.starts_with("deliver/journal/");
        if !in_journal && (text.contains("join(\"logs\")") || text.contains("\"logs/")) {
            broken.push(format!("{rel} finds the logs folder itself"));
        }
        if !in_journal && text.contains("journal::HEADER") {
            broken.push(format!("{rel} knows the log's columns"));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}
