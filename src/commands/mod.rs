//! One module per subcommand, and what they share: loading the inputs.

pub mod check;
pub mod preview;
pub mod send;
pub mod status;

use std::path::Path;

use std::path::PathBuf;

use crate::config::Config;
use crate::content::Issue;
use crate::diag::Diagnostics;

/// The config and the issue, or every problem found in either.
pub fn load_inputs(config: &Path, issue: &Path) -> Result<(Config, Issue), Diagnostics> {
    match (Config::load(config), Issue::load(issue)) {
        (Ok(c), Ok(i)) => Ok((c, i)),
        (c, i) => {
            let mut all = Vec::new();
            all.extend(c.err().into_iter().flat_map(|d| d.0));
            all.extend(i.err().into_iter().flat_map(|d| d.0));
            Err(Diagnostics(all))
        }
    }
}

/// The issue's delivery log: `--log`, or `logs/<issue file stem>.csv`
/// beside the config file.
pub fn log_path(config: &Config, issue_id: &str, log: Option<&Path>) -> PathBuf {
    match log {
        Some(p) => p.to_path_buf(),
        None => config
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("logs")
            .join(format!("{issue_id}.csv")),
    }
}
