//! Sign-ups a minute per client address, and which address is the
//! client's: the peer's, or behind the trusted proxy the last address in
//! its `X-Forwarded-For` (the one the proxy itself saw).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

const WINDOW: Duration = Duration::from_secs(60);

/// A fixed one-minute window per address. Small and in memory: a restart
/// forgets it, which is fine for its job (slowing down a bot).
pub struct Limiter {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip`; false once it is over the limit.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

/// The client's address.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxy: Option<IpAddr>) -> IpAddr {
    if Some(peer) != trusted_proxy {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_per_address() {
        let l = Limiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(l.allow(a) && l.allow(a));
        assert!(!l.allow(a));
        assert!(l.allow(b));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_the_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().expect("valid"),
        );
        let proxy: IpAddr = "127.0.0.1".parse().expect("valid");
        let other: IpAddr = "192.0.2.5".parse().expect("valid");
        assert_eq!(
            client_ip(proxy, &h, Some(proxy)),
            "198.51.100.7".parse::<IpAddr>().expect("valid")
        );
        assert_eq!(client_ip(other, &h, Some(proxy)), other);
        assert_eq!(client_ip(proxy, &h, None), proxy);
    }
}
