//! `bulletin draft --from-feed`: an issue from a site's feed (not built yet).

use std::path::Path;

use crate::Outcome;
use crate::cli::DraftArgs;

pub fn run(_config: &Path, _args: &DraftArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("bulletin draft is not built yet")
}
