//! `bulletin init`: a working starter in a folder (a config with every key
//! explained, today's issue with one story, an empty list), never written
//! over anything.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::Outcome;

const CONFIG: &str = include_str!("starter/config.toml");
const ISSUE: &str = include_str!("starter/issue.toml");
const LIST: &str = "email,name,status,changed\n";

/// `YYYY-MM-DD` of `now` (UTC).
fn date(now: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(now).to_string()[..10].to_owned()
}

/// The files of a starter in `dir`, with their contents.
fn starter(dir: &Path, today: &str) -> Vec<(PathBuf, String)> {
    vec![
        (dir.join("config.toml"), CONFIG.to_owned()),
        (
            dir.join("issues").join(format!("{today}.toml")),
            ISSUE.replace("{date}", today),
        ),
        (dir.join("subscribers.csv"), LIST.to_owned()),
    ]
}

/// Writes a file that must not exist yet (`create_new`: one that appeared
/// since the check is not replaced), its folder made first.
fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create the folder", parent.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, contents.as_bytes()))
        .with_context(|| format!("{}: cannot write", path.display()))
}

pub fn run(dir: &Path) -> anyhow::Result<Outcome> {
    let today = date(crate::now()?);
    let files = starter(dir, &today);
    // Checked all first, so that a refusal writes nothing at all.
    if let Some((taken, _)) = files.iter().find(|(path, _)| path.exists()) {
        anyhow::bail!(
            "{}: already exists; init writes only into a folder without a bulletin set-up",
            taken.display()
        );
    }
    let mut written = Vec::new();
    for (path, contents) in &files {
        if let Err(e) = write_new(path, contents) {
            // Nothing half-done: what this run wrote goes again.
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            return Err(e);
        }
        written.push(path.clone());
    }
    for path in &written {
        println!("wrote {}", path.display());
    }
    let issue = Path::new("issues").join(format!("{today}.toml"));
    println!(
        "\nNext: edit config.toml ([newsletter] and [smtp]), then preview the issue:\n  cd {}\n  bulletin send --issue {} --dry-run --out preview",
        dir.display(),
        issue.display()
    );
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_the_utc_day() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_659_348_000);
        assert_eq!(date(t), "2022-08-01");
    }
}
