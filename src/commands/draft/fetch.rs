//! The feed's bytes: a file read directly, or an http(s) URL fetched with
//! a connect and a total timeout, a size cap read by streaming, and the
//! validators of the last fetch sent back (ETag, Last-Modified) so an
//! unchanged feed costs a 304.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    USER_AGENT,
};
use url::Url;

use super::state::Validators;

/// The largest feed read: far above any real feed, far below a mistake.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// How long the whole request may take, unless `BULLETIN_FEED_TIMEOUT_SECS`
/// (for tests) says otherwise; connecting gets at most 10 s of it.
const TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server answered.
pub enum Fetched {
    /// 304: the feed is as it was when last read.
    NotModified,
    Body {
        bytes: Vec<u8>,
        /// Where it came from after redirects: the base of relative links
        /// when the feed names no site.
        url: Option<Url>,
        validators: Validators,
    },
}

/// A URL as it may be shown: without a user's password or the query,
/// which can carry a private feed's token.
pub fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    let had_query = u.query().is_some();
    u.set_query(None);
    format!("{u}{}", if had_query { "?…" } else { "" })
}

pub fn read_file(path: &Path) -> anyhow::Result<Fetched> {
    use std::io::Read as _;
    let failed =
        |e: std::io::Error| anyhow::anyhow!("{}: cannot read the feed: {e}", path.display());
    let file = std::fs::File::open(path).map_err(failed)?;
    // Read to one byte past the cap, whatever the file's size said (it
    // may grow, or be a pipe).
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!(
            "{}: the feed is over the {} MiB a feed may be; refused",
            path.display(),
            MAX_BYTES / 1024 / 1024
        );
    }
    Ok(Fetched::Body {
        bytes,
        url: None,
        validators: Validators::default(),
    })
}

fn timeout() -> Duration {
    std::env::var("BULLETIN_FEED_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(TIMEOUT, Duration::from_secs)
}

pub fn fetch(url: &Url, known: &Validators, ca_file: Option<&Path>) -> anyhow::Result<Fetched> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(get(url, known, ca_file))
}

async fn get(url: &Url, known: &Validators, ca_file: Option<&Path>) -> anyhow::Result<Fetched> {
    let name = shown(url);
    let mut tls = crate::deliver::smtp::tls::client_config(ca_file, "[feed]")?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let total = timeout();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT.min(total))
        .timeout(total)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .with_context(|| format!("{name}: cannot set up the HTTP client"))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        USER_AGENT,
        concat!("bulletin/", env!("CARGO_PKG_VERSION"), " (feed draft)")
            .parse()
            .context("user agent")?,
    );
    headers.insert(
        ACCEPT,
        "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
            .parse()
            .context("accept")?,
    );
    if let Some(etag) = known.etag.as_deref().and_then(|v| v.parse().ok()) {
        headers.insert(IF_NONE_MATCH, etag);
    }
    if let Some(since) = known.last_modified.as_deref().and_then(|v| v.parse().ok()) {
        headers.insert(IF_MODIFIED_SINCE, since);
    }
    let failed = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            format!("no answer within {} s", total.as_secs())
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else if e.is_redirect() {
            "too many redirects".to_owned()
        } else {
            "the request failed".to_owned()
        };
        // The error's own chain says which (DNS, TLS, refused…); the URL
        // in it is shown without its secrets.
        let detail = std::error::Error::source(&e)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        anyhow::anyhow!("{name}: {why}{detail}")
    };
    let mut response = client
        .get(url.clone())
        .headers(headers)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        bail!("{name}: the server answered HTTP {status}; the feed was not read");
    }
    let header = |h| {
        response
            .headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let validators = Validators {
        etag: header(ETAG),
        last_modified: header(LAST_MODIFIED),
    };
    let over = |n: u64| {
        anyhow::anyhow!(
            "{name}: the feed is {n} bytes or more, over the {} MiB a feed may be; refused",
            MAX_BYTES / 1024 / 1024
        )
    };
    if let Some(len) = header(CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok())
        && len > MAX_BYTES
    {
        return Err(over(len));
    }
    let final_url = response.url().clone();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_BYTES {
            return Err(over(bytes.len() as u64));
        }
    }
    Ok(Fetched::Body {
        bytes,
        url: Some(final_url),
        validators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_password_and_no_query() {
        let u = Url::parse("https://ann:secret@example.org/feed.xml?token=abc").expect("url");
        assert_eq!(shown(&u), "https://example.org/feed.xml?…");
    }
}
