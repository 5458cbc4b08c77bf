//! `bulletin archive`: the static site of the issues that were sent (an
//! index, a page an issue, an Atom feed), written into a folder file by
//! file, each atomically and only when it changed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};

use crate::Outcome;
use crate::cli::ArchiveArgs;
use crate::compose::site;
use crate::deliver::journal::FirstSent;
use crate::input::config::{Archive, Config};
use crate::input::diagnostic::Diagnostics;
use crate::input::issue::Issue;

pub fn run(config_path: &Path, args: &ArchiveArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let Some(archive) = &config.archive else {
        bail!(
            "{}: no [archive] section; add one with `url` (where the site is published), or with [serve] set, an empty [archive]",
            config.path.display()
        );
    };
    let out = args.out.clone().unwrap_or_else(|| default_dir(&config));
    let built = build(&config, archive, &out, &args.issue)?;
    println!(
        "{}: {} published, {} written, {} unchanged, {} removed; feed: {}/{}",
        out.display(),
        crate::count(built.issues as u64, "issue", "issues"),
        crate::count(built.written as u64, "file", "files"),
        built.unchanged,
        built.removed,
        archive.url,
        site::FEED
    );
    Ok(Outcome::Success)
}

/// `archive/` beside the config.
pub fn default_dir(config: &Config) -> PathBuf {
    config
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("archive")
}

/// What a build did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Built {
    pub issues: usize,
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// Builds the site into `out`: every issue file in the issues folder whose
/// delivery log has a `sent` row, and every file in `extra` (published
/// before or without a send); none that says `archive = false`. Every
/// issue is read before anything is written: a bad one stops the build
/// with nothing changed.
pub fn build(
    config: &Config,
    archive: &Archive,
    out: &Path,
    extra: &[PathBuf],
) -> anyhow::Result<Built> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&archive.issues) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("{}", archive.issues.display())),
    };
    files.sort();
    let mut issues: Vec<(Issue, Option<SystemTime>)> = Vec::new();
    let mut problems = Vec::new();
    let sent = |id: &str| {
        crate::deliver::journal::first_sent(&crate::deliver::journal::log_path(config, id, None))
    };
    for file in &files {
        let id = file.file_stem().unwrap_or_default().to_string_lossy();
        let at = match sent(&id)? {
            FirstSent::Never => continue,
            FirstSent::At(at) => Some(at),
            FirstSent::Undated => None,
        };
        match Issue::load(file) {
            Ok(mut issue) => {
                issue.place_images(&archive.url);
                issues.push((issue, at));
            }
            Err(Diagnostics(ds)) => problems.extend(ds),
        }
    }
    for file in extra {
        match Issue::load(file) {
            Ok(mut issue) => {
                issue.place_images(&archive.url);
                issues.retain(|(i, _)| i.id != issue.id);
                let at = match sent(&issue.id)? {
                    FirstSent::At(at) => Some(at),
                    FirstSent::Never | FirstSent::Undated => None,
                };
                // Dated by its send, or else by its `date`: a letter
                // without one has nothing to be dated by.
                if at.is_none() && issue.date.is_none() {
                    problems.push(crate::input::diagnostic::Diagnostic::new(
                        file,
                        None,
                        "has no `date` and was never sent: add a `date` to publish it before a send",
                    ));
                    continue;
                }
                issues.push((issue, at));
            }
            Err(Diagnostics(ds)) => problems.extend(ds),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems).into());
    }
    issues.retain(|(i, _)| i.archive);
    let signup = config
        .serve
        .as_ref()
        .map(|s| format!("{}/subscribe", s.public_url));
    // Pages are for nobody in particular: each field shows its default,
    // or nothing, never a reader's value.
    let mut newsletter = config.newsletter.clone();
    if issues.is_empty() && newsletter.about_fields.is_some() {
        // `about` for nobody in particular: with no issue to render it
        // with, left out rather than shown with its fields' marks.
        newsletter.about = None;
    }
    let mut plain = Vec::with_capacity(issues.len());
    for (issue, sent) in &issues {
        let (n, i) = crate::compose::personal::for_nobody(&config.newsletter, issue)?;
        newsletter = n;
        plain.push(site::Published {
            issue: i,
            sent: *sent,
        });
    }
    let issues = plain;
    // An issue named like a language would share its folder with that
    // language's index.
    for p in &issues {
        if let Some(t) = issues
            .iter()
            .flat_map(|q| &q.issue.translations)
            .find(|t| t.lang.as_str().eq_ignore_ascii_case(&p.issue.id))
        {
            anyhow::bail!(
                "{}: the issue's name `{}` is also the language of a translation ([lang.{}]), \
                 whose index the archive keeps at `{}/`: rename the issue file",
                p.issue.file.display(),
                p.issue.id,
                t.lang,
                t.lang
            );
        }
    }
    let site = site::build(&newsletter, archive, &issues, signup.as_deref());
    let mut built = Built {
        issues: issues.len(),
        ..Built::default()
    };
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot be created", out.display()))?;
    for file in &site {
        let path = out.join(&file.path);
        if std::fs::read(&path).is_ok_and(|old| old == file.bytes) {
            built.unchanged += 1;
            continue;
        }
        write_atomically(&path, &file.bytes)?;
        built.written += 1;
    }
    for p in &issues {
        built.written += copy_media(out, &p.issue)?;
    }
    built.removed = remove_withdrawn(out, &issues)?;
    Ok(built)
}

/// The issue's local images put in the site's `media/` folder, each under
/// its digest (so one already there is the same picture and is left as
/// it is): before a send, so a reader's mail finds them from the first
/// message. How many were written.
pub fn publish_media(config: &Config, issue: &Issue) -> anyhow::Result<usize> {
    if issue.all_images().next().is_none() || config.archive.is_none() {
        return Ok(0);
    }
    copy_media(&default_dir(config), issue)
}

fn copy_media(out: &Path, issue: &Issue) -> anyhow::Result<usize> {
    let mut written = 0;
    for image in issue.all_images() {
        let path = out.join("media").join(image.file_name());
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == image.bytes) {
            continue;
        }
        let bytes = std::fs::read(&image.path)
            .with_context(|| format!("{}: cannot be read", image.path.display()))?;
        // The file as it was read with the issue: one changed since would
        // be published under the old picture's name, at the old size.
        if crate::input::media::digest(&bytes) != image.digest {
            anyhow::bail!(
                "{}: changed since the issue was read (its line {}); run the command again",
                image.path.display(),
                image.line
            );
        }
        write_atomically(&path, &bytes)?;
        written += 1;
    }
    Ok(written)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames
/// it over: a reader of the folder sees the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot be created", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".bulletin-")
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot be written", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("{}: cannot be written", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // A site is public: readable by the web server.
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("{}: cannot be written", path.display()))?;
    Ok(())
}

/// Whether `dir`'s `index.html` is a page `archive` wrote (it carries
/// `site::MARK`): only such pages are ever taken down.
fn our_page(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("index.html")).is_ok_and(|page| page.contains(site::MARK))
}

/// Whether `dir` is a translation's page as `archive` writes it: a folder
/// named by a language tag that holds only its `index.html`, ours.
fn a_translations_page(dir: &Path) -> bool {
    dir.is_dir()
        && dir
            .file_name()
            .is_some_and(|n| crate::input::lang::Lang::parse(&n.to_string_lossy()).is_ok())
        && std::fs::read_dir(dir).is_ok_and(|d| {
            let names: Vec<_> = d.flatten().map(|f| f.file_name()).collect();
            names == ["index.html"]
        })
        && our_page(dir)
}

/// The entries of `dir`, or an error naming it.
fn entries(dir: &Path) -> anyhow::Result<Vec<std::fs::DirEntry>> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot be read", dir.display()))?
        .flatten()
        .collect())
}

/// Takes down what `archive` wrote and no longer publishes, and only
/// that (pages carrying `site::MARK`): the folder of an issue withdrawn
/// (now `archive = false`) with its translations' pages; the page of a
/// translation taken out of an issue still published; and the folder of
/// a language no issue is translated into any more (its index and feed).
/// Anything else in the site (the editor's own pages, `media/`) is left
/// as it is.
fn remove_withdrawn(out: &Path, published: &[site::Published]) -> anyhow::Result<usize> {
    let mut removed = 0;
    let remove = |path: &Path| {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("{}: cannot be removed", path.display()))
    };
    for entry in entries(out)? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir()
            || published
                .iter()
                .any(|p| p.issue.translations.iter().any(|t| t.lang.as_str() == name))
        {
            continue;
        }
        if let Some(p) = published.iter().find(|p| p.issue.id == name) {
            for sub in entries(&path)? {
                let sub = sub.path();
                let kept = sub.file_name().is_some_and(|n| {
                    p.issue
                        .translations
                        .iter()
                        .any(|t| n.to_string_lossy() == t.lang.as_str())
                });
                if !kept && a_translations_page(&sub) {
                    remove(&sub)?;
                    removed += 1;
                }
            }
            continue;
        }
        // An issue's page with its translations' pages, or a language's
        // index with its feed: ours, and nothing else in it.
        let language = crate::input::lang::Lang::parse(&name).is_ok();
        let only_ours = entries(&path)?.iter().all(|e| {
            e.file_name() == "index.html"
                || (language && e.file_name() == site::FEED)
                || a_translations_page(&e.path())
        });
        if only_ours && our_page(&path) {
            remove(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}
