//! The web archive served under `/archive/`: the folder `bulletin archive`
//! writes, file by file, with an `ETag` and `Cache-Control` (a conditional
//! GET gets 304), and nothing else: no listing, no file outside the
//! folder (`..`, encoded or not, and symlinks that lead out are 404).

use std::path::{Component, Path, PathBuf};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

/// How long a browser or proxy may keep a page before asking again.
const CACHE: &str = "public, max-age=300";

/// What a request under `/archive/` names.
enum Found {
    File(PathBuf, &'static str),
    /// A folder named without its trailing slash: the page's URL has one.
    Folder,
}

/// `rel` (the path after `/archive/`, decoded) inside `dir`, if it is one
/// of the site's files.
fn resolve(dir: &Path, rel: &str) -> Option<Found> {
    if rel.contains(['\0', '\\']) {
        return None;
    }
    let mut path = PathBuf::new();
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(p) => path.push(p),
            // `..`, `.`, a root: never.
            _ => return None,
        }
    }
    let wants_index = rel.is_empty() || rel.ends_with('/');
    if wants_index {
        path.push("index.html");
    }
    let root = dir.canonicalize().ok()?;
    let full = root.join(&path).canonicalize().ok()?;
    if !full.starts_with(&root) {
        return None;
    }
    if full.is_dir() {
        return (!wants_index && full.join("index.html").is_file()).then_some(Found::Folder);
    }
    let kind = match full.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("xml") => "application/atom+xml",
        _ => return None,
    };
    if !full.is_file() {
        return None;
    }
    Some(Found::File(full, kind))
}

/// The answer for `GET /archive/{rel}`.
pub async fn get(dir: &Path, rel: &str, headers: &HeaderMap, not_found: Response) -> Response {
    let (file, kind) = match resolve(dir, rel) {
        Some(Found::File(file, kind)) => (file, kind),
        Some(Found::Folder) => {
            return Redirect::permanent(&format!("/archive/{rel}/")).into_response();
        }
        None => return not_found,
    };
    let read = tokio::task::spawn_blocking(move || std::fs::read(file)).await;
    let Ok(Ok(bytes)) = read else {
        return not_found;
    };
    let digest = Sha256::digest(&bytes);
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, bytes).into_response()
    };
    let h = response.headers_mut();
    if !matches {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sites_own_files_are_found() {
        let dir = tempfile::tempdir().expect("dir");
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("2022-08-01")).expect("mkdir");
        std::fs::write(site.join("index.html"), "i").expect("w");
        std::fs::write(site.join("feed.xml"), "f").expect("w");
        std::fs::write(site.join("2022-08-01/index.html"), "p").expect("w");
        std::fs::write(dir.path().join("config.toml"), "secret").expect("w");
        std::fs::write(site.join("notes.txt"), "n").expect("w");
        std::os::unix::fs::symlink(dir.path().join("config.toml"), site.join("out.html"))
            .expect("symlink");
        let found = |rel: &str| match resolve(&site, rel) {
            Some(Found::File(p, kind)) => Some(format!(
                "{} {kind}",
                p.strip_prefix(site.canonicalize().expect("c"))
                    .expect("inside")
                    .display()
            )),
            Some(Found::Folder) => Some("folder".into()),
            None => None,
        };
        assert_eq!(
            found(""),
            Some("index.html text/html; charset=utf-8".into())
        );
        assert_eq!(
            found("feed.xml"),
            Some("feed.xml application/atom+xml".into())
        );
        assert_eq!(
            found("2022-08-01/"),
            Some("2022-08-01/index.html text/html; charset=utf-8".into())
        );
        assert_eq!(found("2022-08-01"), Some("folder".into()));
        for bad in [
            "../config.toml",
            "2022-08-01/../../config.toml",
            "/etc/passwd",
            "notes.txt",
            "out.html",
            "nothing/",
            "a\\\\b",
        ] {
            assert_eq!(found(bad), None, "{bad}");
        }
    }
}
