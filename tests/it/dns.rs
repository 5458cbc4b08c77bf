//! `check --dns` against a DNS server the test starts on 127.0.0.1
//! (dnslib, tests/support/dns_server.py) with a right set of records, then
//! each wrong in turn: every finding named, with what to publish.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::compliance::dkim_key;
use crate::servers::free_port;
use crate::util::{Project, repo_root};

/// A DNS server answering from `zone`, stopped when dropped.
struct Dns {
    child: Child,
    port: u16,
}

impl Dns {
    fn start(p: &Project, zone: &str) -> Self {
        let port = free_port();
        let file = p.path(&format!("zone-{port}.txt"));
        std::fs::write(&file, zone).expect("zone");
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/support/dns_server.py"))
            .arg(port.to_string())
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with dnslib (scripts/install-test-deps)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready");
        assert_eq!(line.trim(), "ready", "the DNS server did not start");
        Self { child, port }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TXT record's value as zone-file strings of at most 200 bytes.
fn quoted(value: &str) -> String {
    value
        .as_bytes()
        .chunks(200)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn check_dns_finds_each_missing_or_wrong_record() {
    let p = Project::sample();
    let (key, record) = dkim_key(&p.path("."), "rsa");
    p.with_dkim(&key);
    let (_, other) = dkim_key(&p.path("."), "ed25519");
    let spf = "example.org. 60 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n";
    let dkim = format!(
        "bulletin._domainkey.example.org. 60 IN TXT {}\n",
        quoted(&record)
    );
    let dmarc =
        "_dmarc.example.org. 60 IN TXT \"v=DMARC1; p=quarantine; rua=mailto:d@example.org\"\n";
    let mx = "example.org. 60 IN MX 10 mx.example.org.\n";
    let check = |zone: String| {
        let dns = Dns::start(&p, &zone);
        let resolver = format!("127.0.0.1:{}", dns.port);
        p.bulletin(&[
            "check",
            "--issue",
            "issues/2022-08-01.toml",
            "--dns",
            "--resolver",
            &resolver,
        ])
    };
    // All right: every finding ok, and the published key is the
    // configured one (openssl made the record, bulletin reads the key).
    let right = check(format!("{spf}{dkim}{dmarc}{mx}"));
    right
        .success()
        .stdout_has("dns: SPF: example.org has \"v=spf1 ip4:127.0.0.1 -all\"")
        .stdout_has("dns: DKIM: bulletin._domainkey.example.org holds the configured key")
        .stdout_has("dns: DMARC: _dmarc.example.org has p=quarantine")
        .stdout_has("dns: alignment: the DKIM domain example.org aligns with From")
        .stdout_has("dns: MX: example.org takes mail");
    // Each wrong in turn: an error naming what to publish, exit 1.
    let p_value = record.split("p=").nth(1).expect("p=");
    for (zone, says) in [
        (
            format!("{dkim}{dmarc}{mx}"),
            "SPF: example.org has none; publish TXT \"v=spf1 a:127.0.0.1 -all\"".to_owned(),
        ),
        (
            format!("example.org. 60 IN TXT \"v=spf1 +all\"\n{dkim}{dmarc}{mx}"),
            "lets anyone send as example.org".to_owned(),
        ),
        (
            format!("{spf}{dmarc}{mx}"),
            format!("has no key; publish TXT \"v=DKIM1; k=rsa; p={p_value}\""),
        ),
        (
            format!(
                "{spf}bulletin._domainkey.example.org. 60 IN TXT {}\n{dmarc}{mx}",
                quoted(&other)
            ),
            "holds another key than the configured one".to_owned(),
        ),
        (
            format!("{spf}{dkim}{mx}"),
            "DMARC: _dmarc.example.org has none; publish TXT \"v=DMARC1; p=none".to_owned(),
        ),
        (
            format!("{spf}{dkim}{dmarc}"),
            "MX: example.org has no MX".to_owned(),
        ),
    ] {
        let run = check(zone);
        assert_eq!(run.code, Some(1), "{says}: {run:?}");
        assert!(run.stderr.contains(&says), "{says}: {}", run.stderr);
    }
}
