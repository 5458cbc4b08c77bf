//! `[serve]`: the web endpoint (`bulletin serve`) for one-click
//! unsubscribes and confirmed sign-ups.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::input::toml_file::TomlFile;

/// How long a sign-up's confirmation link works, unless configured.
pub const CONFIRM_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let ip = canonical(ip);
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self {
            network: ip,
            prefix,
        })
    }

    /// Whether `ip` (a v4-mapped v6 address read as v4) is in it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address that came as IPv6 (`::ffff:127.0.0.1`, what a `[::]`
/// listener sees) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// Where the server listens (`--listen` overrides).
    pub listen: SocketAddr,
    /// The origin readers see, without a trailing slash: links in
    /// confirmation mail start with it.
    pub public_url: String,
    /// Sign-ups a minute from one client address.
    pub subscribe_limit_per_minute: u32,
    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxy: Vec<Cidr>,
    /// How long a confirmation link works.
    pub confirm_expiry: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's header, and its body.
    pub request_timeout: Duration,
    /// At most one confirmation mail to an address in this long, however
    /// many sign-ups ask for it.
    pub confirm_resend_after: Duration,
    /// How long a confirmation is retried (with back-off) before it is
    /// given up on.
    pub confirm_retry_for: Duration,
    /// Tags the sign-up form offers as checkboxes, each with the label
    /// readers see; a reader's choice becomes their tags.
    pub topics: Vec<Topic>,
    /// The welcome issue a confirmed sign-up gets, once per address ever.
    pub welcome: Option<std::path::PathBuf>,
}

/// A topic of the sign-up form: a tag (lower case) and its label (the
/// tag itself when none is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub tag: String,
    pub label: String,
}

/// A topic as written: a bare tag, or `{ tag = "japan", label = "Japan desk" }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTopic {
    Tag(String),
    Labelled { tag: String, label: String },
}

/// `[serve]`'s defaults for the bounds (docs/serve.md, "Running the web
/// endpoint"): below systemd's usual 1,024 open files, with room for the
/// list, the log and the relay.
pub const MAX_CONNECTIONS: usize = 512;
pub const REQUEST_TIMEOUT_SECS: u64 = 10;
pub const CONFIRM_RESEND_MINUTES: u64 = 60;
pub const CONFIRM_RETRY_MINUTES: u64 = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    #[serde(default = "default_listen")]
    listen: Spanned<String>,
    public_url: Spanned<String>,
    #[serde(default = "default_limit")]
    subscribe_limit_per_minute: Spanned<u32>,
    trusted_proxy: Option<Spanned<toml::Value>>,
    #[serde(default = "default_expiry_days")]
    confirm_expiry_days: Spanned<u32>,
    max_connections: Option<Spanned<u64>>,
    request_timeout_secs: Option<Spanned<u64>>,
    confirm_resend_minutes: Option<Spanned<u64>>,
    confirm_retry_minutes: Option<Spanned<u64>>,
    topics: Option<Spanned<Vec<RawTopic>>>,
    welcome: Option<Spanned<String>>,
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

pub(super) fn check_serve(
    file: &mut TomlFile,
    raw: RawServe,
    dir: &std::path::Path,
) -> Option<Serve> {
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
        None => Vec::new(),
        Some(value) => {
            let items: Vec<Option<&str>> = match value.get_ref() {
                toml::Value::String(one) => vec![Some(one.as_str())],
                toml::Value::Array(many) => many.iter().map(toml::Value::as_str).collect(),
                _ => vec![None],
            };
            let parsed: Option<Vec<Cidr>> = items.iter().map(|i| i.and_then(Cidr::parse)).collect();
            parsed.unwrap_or_else(|| {
                file.problem_at(
                    value.span().start,
                    "`trusted_proxy` must be an IP address or network (\"127.0.0.1\", \"10.0.0.0/8\"), or a list of them",
                );
                ok = false;
                Vec::new()
            })
        }
    };
    let mut bounded =
        |value: &Option<Spanned<u64>>, default: u64, range: (u64, u64), what: &str| match value {
            None => default,
            Some(v) if (range.0..=range.1).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                file.problem_at(
                    v.span().start,
                    format!("[serve] `{what}` must be from {} to {}", range.0, range.1),
                );
                ok = false;
                default
            }
        };
    let max_connections = bounded(
        &raw.max_connections,
        MAX_CONNECTIONS as u64,
        (8, 65_536),
        "max_connections",
    );
    let request_timeout = bounded(
        &raw.request_timeout_secs,
        REQUEST_TIMEOUT_SECS,
        (1, 60),
        "request_timeout_secs",
    );
    let resend = bounded(
        &raw.confirm_resend_minutes,
        CONFIRM_RESEND_MINUTES,
        (1, 10_080),
        "confirm_resend_minutes",
    );
    let retry = bounded(
        &raw.confirm_retry_minutes,
        CONFIRM_RETRY_MINUTES,
        (1, 10_080),
        "confirm_retry_minutes",
    );
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
    let topics = match &raw.topics {
        None => Vec::new(),
        Some(t) => {
            let mut out: Vec<Topic> = Vec::new();
            for topic in t.get_ref() {
                let (tag, label) = match topic {
                    RawTopic::Tag(tag) => (tag.trim().to_lowercase(), tag.trim().to_owned()),
                    RawTopic::Labelled { tag, label } => {
                        (tag.trim().to_lowercase(), label.trim().to_owned())
                    }
                };
                let fine = !tag.is_empty()
                    && tag.len() <= 40
                    && tag
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
                let label_fine = !label.is_empty()
                    && label.chars().count() <= 80
                    && !label.chars().any(char::is_control);
                if !fine {
                    file.problem_at(
                        t.span().start,
                        "[serve] `topics` are tags (letters, digits, `-` and `_`, 40 at most each), or { tag = \"japan\", label = \"Japan desk\" }",
                    );
                    ok = false;
                } else if !label_fine {
                    file.problem_at(
                        t.span().start,
                        format!("[serve] topic {tag:?}: its `label` must be one line of at most 80 characters"),
                    );
                    ok = false;
                } else if !out.iter().any(|o| o.tag == tag) {
                    out.push(Topic { tag, label });
                }
            }
            out
        }
    };
    let welcome = match &raw.welcome {
        None => None,
        Some(w) if w.get_ref().trim().is_empty() => {
            file.problem_at(
                w.span().start,
                "[serve] `welcome` is the path of an issue file",
            );
            ok = false;
            None
        }
        Some(w) => Some(dir.join(w.get_ref().trim())),
    };
    Some(Serve {
        listen: listen.ok()?,
        public_url,
        subscribe_limit_per_minute: limit,
        trusted_proxy,
        confirm_expiry: Duration::from_secs(u64::from(days) * 24 * 3600),
        max_connections: usize::try_from(max_connections).unwrap_or(MAX_CONNECTIONS),
        request_timeout: Duration::from_secs(request_timeout),
        confirm_resend_after: Duration::from_secs(resend * 60),
        confirm_retry_for: Duration::from_secs(retry * 60),
        topics,
        welcome,
    })
    .filter(|_| ok)
}
