//! One module per subcommand, and what they share: loading the inputs.

pub mod check;
pub mod send;

use std::path::Path;

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
