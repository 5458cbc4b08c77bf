//! Sign-ups a minute per client, and which address is the client's: the
//! peer's, or behind a trusted proxy the rightmost `X-Forwarded-For`
//! entry that is not itself a trusted proxy (the one a proxy of ours
//! saw). v4-mapped addresses are read as IPv4; an IPv6 client is counted
//! by its /64 (one household or host can have the whole of one).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::input::config::{Cidr, canonical};

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
        let key = bucket(ip);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = seen.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

/// What is counted as one client: an IPv4 address, or an IPv6 /64.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:443`); `None` for anything else
/// (`unix:…`, `unknown`, garbage).
fn forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        let port = port.strip_prefix(':')?;
        port.parse::<u16>().ok()?;
        return ip.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (ip, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then the rightmost `X-Forwarded-For` entry that is not a trusted proxy.
/// An entry that cannot be read (the client may have written it) stops
/// the walk at the peer.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        entries.extend(value.split(','));
    }
    for entry in entries.iter().rev() {
        match forwarded(entry).map(canonical) {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return ip,
            None => return peer,
        }
    }
    peer
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

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().expect("valid"));
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy = [Cidr::parse("127.0.0.1").expect("cidr")];
        let h = xff("203.0.113.9, 198.51.100.7");
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxy), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("192.0.2.5"), &h, &proxy), ip("192.0.2.5"));
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        // A `[::]` listener sees the proxy as ::ffff:127.0.0.1.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &proxy),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_for_is_read_strictly() {
        let proxies = [
            Cidr::parse("10.0.0.0/8").expect("cidr"),
            Cidr::parse("::1").expect("cidr"),
        ];
        let peer = ip("10.1.2.3");
        // Ports are understood; proxies of ours in the chain are skipped.
        let h = xff("198.51.100.7:4711, 10.9.9.9");
        assert_eq!(client_ip(peer, &h, &proxies), ip("198.51.100.7"));
        let h = xff("[2001:db8::7]:443");
        assert_eq!(client_ip(peer, &h, &proxies), ip("2001:db8::7"));
        // What cannot be read is never skipped past: the peer stands.
        for bad in [
            "198.51.100.7, garbage",
            "unix:/run/proxy.sock",
            "198.51.100.7:http",
            "",
        ] {
            assert_eq!(client_ip(peer, &xff(bad), &proxies), peer, "{bad:?}");
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let l = Limiter::new(2);
        assert!(l.allow(ip("2001:db8:1:2::1")) && l.allow(ip("2001:db8:1:2::ffff")));
        assert!(!l.allow(ip("2001:db8:1:2:abcd::9")), "same /64");
        assert!(l.allow(ip("2001:db8:1:3::1")), "another /64");
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn networks_contain_what_they_should() {
        let net = Cidr::parse("192.0.2.0/24").expect("cidr");
        assert!(net.contains(ip("192.0.2.200")) && !net.contains(ip("192.0.3.1")));
        assert!(net.contains(ip("::ffff:192.0.2.9")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(Cidr::parse("fd00::/8").expect("v6").contains(ip("fd12::1")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
    }
}
