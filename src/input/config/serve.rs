//! `[serve]`: the web endpoint (`bulletin serve`) for one-click
//! unsubscribes and confirmed sign-ups.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::input::toml_file::TomlFile;

/// How long a sign-up's confirmation link works, unless configured.
pub const CONFIRM_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// Where the server listens (`--listen` overrides).
    pub listen: SocketAddr,
    /// The origin readers see, without a trailing slash: links in
    /// confirmation mail start with it.
    pub public_url: String,
    /// Sign-ups a minute from one client address.
    pub subscribe_limit_per_minute: u32,
    /// The reverse proxy whose `X-Forwarded-For` is believed.
    pub trusted_proxy: Option<IpAddr>,
    /// How long a confirmation link works.
    pub confirm_expiry: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    #[serde(default = "default_listen")]
    listen: Spanned<String>,
    public_url: Spanned<String>,
    #[serde(default = "default_limit")]
    subscribe_limit_per_minute: Spanned<u32>,
    trusted_proxy: Option<Spanned<String>>,
    #[serde(default = "default_expiry_days")]
    confirm_expiry_days: Spanned<u32>,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8025".into())
}

fn default_limit() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

fn default_expiry_days() -> Spanned<u32> {
    Spanned::new(0..0, 7)
}

pub(super) fn check_serve(file: &mut TomlFile, raw: RawServe) -> Option<Serve> {
    let mut ok = true;
    let listen = raw.listen.get_ref().trim().parse::<SocketAddr>();
    if listen.is_err() {
        file.problem_at(
            raw.listen.span().start,
            format!(
                "`listen` {:?} is not an address and port like \"127.0.0.1:8025\"",
                raw.listen.get_ref()
            ),
        );
        ok = false;
    }
    let public_url = raw
        .public_url
        .get_ref()
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let parsed = url::Url::parse(&public_url);
    let origin_like = parsed.as_ref().is_ok_and(|u| {
        matches!(u.scheme(), "https" | "http")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
    });
    if !origin_like {
        file.problem_at(
            raw.public_url.span().start,
            "`public_url` must be the https address readers see, like \"https://news.example.org\"",
        );
        ok = false;
    }
    let trusted_proxy = match &raw.trusted_proxy {
        Some(p) => match p.get_ref().trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                file.problem_at(
                    p.span().start,
                    format!("`trusted_proxy` {:?} is not an IP address", p.get_ref()),
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    let limit = *raw.subscribe_limit_per_minute.get_ref();
    if limit == 0 {
        file.problem_at(
            raw.subscribe_limit_per_minute.span().start,
            "[serve] `subscribe_limit_per_minute` must be at least 1",
        );
        ok = false;
    }
    let days = *raw.confirm_expiry_days.get_ref();
    if !(1..=365).contains(&days) {
        file.problem_at(
            raw.confirm_expiry_days.span().start,
            "`confirm_expiry_days` must be from 1 to 365",
        );
        ok = false;
    }
    Some(Serve {
        listen: listen.ok()?,
        public_url,
        subscribe_limit_per_minute: limit,
        trusted_proxy,
        confirm_expiry: Duration::from_secs(u64::from(days) * 24 * 3600),
    })
    .filter(|_| ok)
}
