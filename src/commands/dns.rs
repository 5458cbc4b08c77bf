//! `bulletin check --dns`: the sender's DNS as mailbox providers read it
//! (Gmail and Yahoo since 2024, Outlook.com since May 2025 refuse bulk
//! mail without it): SPF for the domains mail comes from, the DKIM
//! selector's key against the configured private key, DMARC and its
//! alignment with From, and an MX for the bounce address's domain. Each
//! finding is one line, with what to publish when something is missing.

use std::net::SocketAddr;

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::input::config::Config;

/// How a finding reads: fine, worth a look, or mail will be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

fn ok(text: String) -> Finding {
    Finding {
        level: Level::Ok,
        text,
    }
}
fn warning(text: String) -> Finding {
    Finding {
        level: Level::Warning,
        text,
    }
}
fn error(text: String) -> Finding {
    Finding {
        level: Level::Error,
        text,
    }
}

type Dns = Resolver<TokioRuntimeProvider>;

/// The resolver: the system's, or the one at `at` (a test's own server).
fn resolver(at: Option<SocketAddr>) -> anyhow::Result<Dns> {
    Ok(match at {
        Some(at) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = at.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = at.port();
            let server = NameServerConfig::new(at.ip(), true, vec![udp, tcp]);
            let config = ResolverConfig::from_parts(None, vec![], vec![server]);
            Resolver::builder_with_config(config, TokioRuntimeProvider::default()).build()?
        }
        None => Resolver::builder_tokio()?.build()?,
    })
}

/// The TXT records at `name`, each joined from its strings; none when the
/// name has none (or does not exist).
async fn txt(dns: &Dns, name: &str) -> anyhow::Result<Vec<String>> {
    match dns.txt_lookup(format!("{name}.")).await {
        Ok(found) => Ok(found
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => anyhow::bail!("{name}: the DNS lookup failed: {e}"),
    }
}

async fn has_mx(dns: &Dns, domain: &str) -> anyhow::Result<bool> {
    match dns.mx_lookup(format!("{domain}.")).await {
        // A null MX (`0 .`, RFC 7505) says the domain takes no mail.
        Ok(found) => Ok(found
            .answers()
            .iter()
            .any(|r| matches!(&r.data, RData::MX(mx) if !mx.exchange.is_root()))),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(false),
        Err(e) => anyhow::bail!("{domain}: the DNS lookup failed: {e}"),
    }
}

/// Checks SPF at `domain`, for mail sent through `relays`.
fn spf(domain: &str, records: &[String], relays: &[String]) -> Finding {
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| {
            let r = r.to_ascii_lowercase();
            r == "v=spf1" || r.starts_with("v=spf1 ")
        })
        .collect();
    let suggest = relays
        .iter()
        .map(|h| format!("a:{h}"))
        .collect::<Vec<_>>()
        .join(" ");
    let record = match spf.as_slice() {
        [] => {
            return error(format!(
                "SPF: {domain} has none; publish TXT \"v=spf1 {suggest} -all\" (or your provider's include:)"
            ));
        }
        [one] => one.as_str(),
        _ => {
            return error(format!(
                "SPF: {domain} has {} SPF records; receivers treat that as none: merge them into one",
                spf.len()
            ));
        }
    };
    for term in record.split_whitespace().skip(1) {
        let bare = term.trim_start_matches(['+', '-', '~', '?']);
        let name = bare
            .split([':', '=', '/'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let known = [
            "all", "include", "a", "mx", "ip4", "ip6", "exists", "ptr", "redirect", "exp",
        ];
        // An unknown modifier (`name=value`) is ignored (RFC 7208 6); an
        // unknown mechanism makes the record invalid.
        let modifier = bare.split_once('=').is_some_and(|(n, _)| !n.contains(':'));
        if !known.contains(&name.as_str()) && !modifier {
            return error(format!(
                "SPF: {domain}'s record has {term:?}, which is no SPF term: \"{record}\""
            ));
        }
        if bare.eq_ignore_ascii_case("all") && !term.starts_with(['-', '~', '?']) {
            return error(format!(
                "SPF: {domain}'s record ends in {term}: it lets anyone send as {domain}; use -all"
            ));
        }
    }
    let named: Vec<&String> = relays
        .iter()
        .filter(|h| {
            record
                .to_ascii_lowercase()
                .contains(&h.to_ascii_lowercase())
        })
        .collect();
    if named.len() < relays.len() {
        return warning(format!(
            "SPF: {domain} has \"{record}\"; it does not name {} by name: check that your relay's include: or addresses are in it",
            relays.join(", ")
        ));
    }
    ok(format!("SPF: {domain} has \"{record}\""))
}

/// The value of tag `name` in a `k=v; k=v` record.
fn tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The organisational domain of `domain`, taken as its last two labels:
/// an approximation of the public suffix list's answer that is right for
/// `example.org`-like names, and too short for `example.co.uk`-like ones
/// (then relaxed alignment is judged too generously, never too strictly).
fn organisational(domain: &str) -> String {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..]
        .join(".")
        .to_ascii_lowercase()
}

/// Whether a DKIM domain `d` aligns with `from`: the same name under
/// `adkim=s`, the same organisational domain otherwise (relaxed).
fn aligned(d: &str, from: &str, strict: bool) -> bool {
    if strict {
        d.eq_ignore_ascii_case(from)
    } else {
        organisational(d) == organisational(from)
    }
}

/// Looks everything up and says what it found, one finding a line.
pub async fn findings(config: &Config, at: Option<SocketAddr>) -> anyhow::Result<Vec<Finding>> {
    let dns = resolver(at)?;
    let from = config.newsletter.from.email.domain().to_ascii_lowercase();
    let relays: Vec<String> = config.relays.iter().map(|r| r.smtp.host.clone()).collect();
    let mut out = Vec::new();
    // Mail comes from the bounce address (the envelope, VERP) when there
    // is one, and always shows From.
    let bounce = config
        .bounces
        .as_ref()
        .map(|b| b.address.envelope().domain().to_ascii_lowercase());
    let mut senders = vec![from.clone()];
    senders.extend(bounce.clone().filter(|b| *b != from));
    for domain in &senders {
        out.push(match txt(&dns, domain).await {
            Ok(records) => spf(domain, &records, &relays),
            Err(e) => error(format!("SPF: {e:#}")),
        });
    }
    let dkim_domain = match &config.dkim {
        None => {
            out.push(error(format!(
                "DKIM: no [dkim] section: mail from {from} is unsigned; add a key (README, \"Sending through a real relay\", step 3)"
            )));
            None
        }
        Some(settings) => match crate::compose::dkim::load(settings) {
            Err(e) => {
                out.push(error(format!(
                    "DKIM: the configured key cannot be read: {e:#}"
                )));
                None
            }
            Ok(signer) => {
                let (k, p) = signer.public_record();
                let name = format!("{}._domainkey.{}", signer.selector(), signer.domain());
                let want = format!("v=DKIM1; k={k}; p={p}");
                let (records, failed) = match txt(&dns, &name).await {
                    Ok(records) => (records, None),
                    Err(e) => (Vec::new(), Some(format!("DKIM: {e:#}"))),
                };
                let published = records
                    .iter()
                    .find_map(|r| tag(r, "p").map(|p| p.split_whitespace().collect::<String>()));
                out.push(match published {
                _ if failed.is_some() => error(failed.unwrap_or_default()),
                None => error(format!("DKIM: {name} has no key; publish TXT \"{want}\"")),
                Some(got) if got == p => ok(format!("DKIM: {name} holds the configured key")),
                Some(got) if got.is_empty() => error(format!(
                    "DKIM: {name} has an empty p=: the key is revoked; publish TXT \"{want}\""
                )),
                Some(_) => error(format!(
                    "DKIM: {name} holds another key than the configured one; every signature fails. Publish TXT \"{want}\""
                )),
            });
                Some(signer.domain().to_ascii_lowercase())
            }
        },
    };
    // DMARC at the From domain, else at its organisational domain (RFC
    // 7489 6.6.3).
    let mut dmarc_name = format!("_dmarc.{from}");
    let mut dmarc = None;
    for name in [
        dmarc_name.clone(),
        format!("_dmarc.{}", organisational(&from)),
    ] {
        match txt(&dns, &name).await {
            Ok(records) => {
                if let Some(r) = records
                    .into_iter()
                    .find(|r| r.to_ascii_lowercase().starts_with("v=dmarc1"))
                {
                    dmarc_name = name;
                    dmarc = Some(r);
                    break;
                }
            }
            Err(e) => out.push(error(format!("DMARC: {e:#}"))),
        }
    }
    let strict = dmarc
        .as_deref()
        .and_then(|r| tag(r, "adkim"))
        .is_some_and(|v| v.eq_ignore_ascii_case("s"));
    out.push(match dmarc {
        None => error(format!(
            "DMARC: {dmarc_name} has none; publish TXT \"v=DMARC1; p=none; rua=mailto:dmarc@{from}\" (then tighten p= once reports look right)"
        )),
        Some(record) => {
            let policy = tag(&record, "p").unwrap_or("").to_ascii_lowercase();
            if !["none", "quarantine", "reject"].contains(&policy.as_str()) {
                error(format!("DMARC: {dmarc_name} has no valid p= (none, quarantine or reject): \"{record}\""))
            } else {
                ok(format!("DMARC: {dmarc_name} has p={policy}"))
            }
        }
    });
    if let Some(d) = dkim_domain {
        out.push(if aligned(&d, &from, strict) {
            ok(format!("alignment: the DKIM domain {d} aligns with From ({from})"))
        } else {
            error(format!(
                "alignment: the DKIM domain {d} is not From's ({from}): DMARC fails; sign as {from} ([dkim] domain)"
            ))
        });
    }
    let mx_domain = bounce.unwrap_or(from);
    out.push(match has_mx(&dns, &mx_domain).await {
        Ok(true) => ok(format!("MX: {mx_domain} takes mail (bounces reach it)")),
        Ok(false) => error(format!(
            "MX: {mx_domain} has no MX: bounces and replies to it are lost; publish an MX for {mx_domain}"
        )),
        Err(e) => error(format!("MX: {e:#}")),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spf_is_read_as_receivers_read_it() {
        let relays = vec!["smtp.example.net".to_owned()];
        let one = |r: &str| spf("example.org", &[r.to_owned()], &relays).level;
        assert_eq!(one("v=spf1 include:smtp.example.net -all"), Level::Ok);
        assert_eq!(one("v=spf1 +all"), Level::Error);
        assert_eq!(one("v=spf1 all"), Level::Error);
        assert_eq!(one("v=spf1 bogus:x -all"), Level::Error);
        assert_eq!(one("v=spf1 ip4:192.0.2.1 -all"), Level::Warning);
        assert_eq!(spf("example.org", &[], &relays).level, Level::Error);
        let two = ["v=spf1 -all".to_owned(), "v=spf1 ~all".to_owned()];
        assert_eq!(spf("example.org", &two, &relays).level, Level::Error);
    }

    #[test]
    fn alignment_is_relaxed_unless_strict() {
        assert!(aligned("example.org", "news.example.org", false));
        assert!(aligned("mail.example.org", "news.example.org", false));
        assert!(!aligned("mailer.net", "example.org", false));
        assert!(!aligned("example.org", "news.example.org", true));
        assert!(aligned("news.example.org", "news.example.org", true));
    }

    #[test]
    fn unknown_modifiers_are_ignored_and_the_version_is_exact() {
        let relays = vec!["smtp.example.net".to_owned()];
        let one = |r: &str| spf("example.org", &[r.to_owned()], &relays).level;
        assert_eq!(
            one("v=spf1 include:smtp.example.net ra=postmaster -all"),
            Level::Ok
        );
        assert_eq!(
            spf("example.org", &["v=spf10 -all".to_owned()], &relays).level,
            Level::Error
        );
    }
}
