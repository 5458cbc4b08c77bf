//! Where delivery logs are: `logs/` beside the config, one
//! `<issue file stem>.csv` an issue (`send --log` puts one elsewhere).
//! The one way every command finds them; nothing else lives there that is
//! not a delivery log (side ledgers are kept beside the list).

use std::path::{Path, PathBuf};

use crate::input::config::Config;

/// The folder of the delivery logs: `logs/` beside the config file.
pub fn logs_dir(config: &Config) -> PathBuf {
    config
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("logs")
}

/// The issue's delivery log: `log` when given, or
/// `logs/<issue file stem>.csv` beside the config file.
pub fn log_path(config: &Config, issue_id: &str, log: Option<&Path>) -> PathBuf {
    match log {
        Some(p) => p.to_path_buf(),
        None => logs_dir(config).join(format!("{issue_id}.csv")),
    }
}

/// Every delivery log in the folder, and `extra` (a log kept elsewhere),
/// as (issue id, path), by name. A file there whose header is not a
/// delivery log's is passed over.
pub fn every_log(config: &Config, extra: Option<&Path>) -> Vec<(String, PathBuf)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(logs_dir(config))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    if let Some(extra) = extra
        && extra.exists()
        && !files.iter().any(|f| f == extra)
    {
        files.push(extra.to_path_buf());
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| super::record::is_log(p))
        .map(|p| {
            let id = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (id, p)
        })
        .collect()
}
