//! `[smtp]` for one relay, or `[[smtp]]` tables for several: each with
//! its `name`, `weight`, own `concurrency` and `rate`, and a
//! `daily_limit` (messages in any 24 hours) that may grow by `warmup`.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use super::transport::{RawSmtp, Smtp, check_smtp};
use crate::input::toml_file::TomlFile;

/// One relay and its share of a send.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Names it in the delivery log (`relay` column) and in reports.
    pub name: String,
    pub smtp: Smtp,
    /// Its share of the readers, against the other relays' weights.
    pub weight: u32,
    /// Its own connections; `None`: `[sending] concurrency`.
    pub concurrency: Option<usize>,
    /// Its own messages a second; `None`: no limit of its own.
    pub rate: Option<f64>,
    /// Messages in any 24 hours, counted from every delivery log.
    pub daily_limit: Option<u64>,
    /// A daily limit that grows, one step a day from its first send
    /// (`daily_limit`, when given, applies after the last step).
    pub warmup: Vec<u64>,
}

impl Relay {
    /// The limit on day `day` (0: the day of its first logged send).
    pub fn limit_on(&self, day: u64) -> Option<u64> {
        match self.warmup.get(usize::try_from(day).unwrap_or(usize::MAX)) {
            Some(step) => Some(*step),
            None => self.daily_limit.or(self.warmup.last().copied()),
        }
    }
}

/// `smtp` as written: one table or an array of them.
pub(super) enum RawSmtps {
    One(Box<RawSmtp>),
    Many(Vec<RawSmtp>),
}

impl<'de> Deserialize<'de> for RawSmtps {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawSmtps;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an [smtp] table, or [[smtp]] tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSmtps, A::Error> {
                RawSmtp::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|r| RawSmtps::One(Box::new(r)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawSmtps, A::Error> {
                Vec::<RawSmtp>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(RawSmtps::Many)
            }
        }
        d.deserialize_any(Either)
    }
}

/// The relays, each checked; every problem named with its table and line.
pub(super) fn check_relays(file: &mut TomlFile, raw: RawSmtps, dir: &Path) -> Option<Vec<Relay>> {
    let (raws, many) = match raw {
        RawSmtps::One(r) => (vec![*r], false),
        RawSmtps::Many(rs) => (rs, true),
    };
    if raws.is_empty() {
        return Some(Vec::new());
    }
    let mut ok = true;
    let mut relays = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        let table = if many {
            format!("[[smtp]] #{}", i + 1)
        } else {
            "[smtp]".to_owned()
        };
        let mut problem = |at: usize, what: String| {
            file.problem_at(at, format!("{table}: {what}"));
            ok = false;
        };
        let name = match &r.name {
            Some(n) => {
                let name = n.get_ref().trim().to_owned();
                let fine = !name.is_empty()
                    && name.len() <= 40
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
                if !fine {
                    problem(
                        n.span().start,
                        "`name` is letters, digits, `-`, `_` and `.`, 40 at most".into(),
                    );
                }
                name
            }
            None if many && raws.len() > 1 => {
                problem(
                    r.at(),
                    "`name` is needed when there are several relays (it names the relay in the log)"
                        .into(),
                );
                String::new()
            }
            None => "smtp".to_owned(),
        };
        let weight = r.weight.as_ref().map_or(1, |w| *w.get_ref());
        if let Some(w) = r
            .weight
            .as_ref()
            .filter(|w| !(1..=1000).contains(w.get_ref()))
        {
            problem(w.span().start, "`weight` must be from 1 to 1000".into());
        }
        if let Some(c) = r
            .concurrency
            .as_ref()
            .filter(|c| !(1..=256).contains(c.get_ref()))
        {
            problem(c.span().start, "`concurrency` must be from 1 to 256".into());
        }
        if let Some(rate) = r
            .rate
            .as_ref()
            .filter(|v| !(v.get_ref().is_finite() && *v.get_ref() > 0.0))
        {
            problem(
                rate.span().start,
                "`rate` is messages a second, more than 0 (leave it out for no limit)".into(),
            );
        }
        if let Some(d) = r.daily_limit.as_ref().filter(|d| *d.get_ref() == 0) {
            problem(d.span().start, "`daily_limit` must be at least 1".into());
        }
        let warmup = r
            .warmup
            .as_ref()
            .map_or(Vec::new(), |w| w.get_ref().clone());
        if let Some(w) = &r.warmup
            && (warmup.is_empty() || warmup.contains(&0) || warmup.windows(2).any(|p| p[1] < p[0]))
        {
            problem(
                w.span().start,
                "`warmup` is daily limits that grow, each at least 1, like [500, 1000, 2500]"
                    .into(),
            );
        }
        if relays.iter().any(|o: &Relay| o.name == name) && !name.is_empty() {
            problem(r.at(), format!("another relay is named {name:?}"));
        }
        let Some(smtp) = check_smtp(file, r, dir) else {
            ok = false;
            continue;
        };
        relays.push(Relay {
            name,
            smtp,
            weight,
            concurrency: r.concurrency.as_ref().map(|c| *c.get_ref()),
            rate: r.rate.as_ref().map(|v| *v.get_ref()),
            daily_limit: r.daily_limit.as_ref().map(|d| *d.get_ref()),
            warmup,
        });
    }
    ok.then_some(relays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warmup_grows_a_step_a_day_then_the_daily_limit_holds() {
        let smtp = Smtp {
            host: "127.0.0.1".into(),
            port: 25,
            security: super::super::Security::None,
            username: None,
            password_env: "X".into(),
            timeout: std::time::Duration::from_secs(1),
            data_timeout: std::time::Duration::from_secs(1),
            hello_name: None,
            tls_ca_file: None,
        };
        let mut relay = Relay {
            name: "new-ip".into(),
            smtp,
            weight: 1,
            concurrency: None,
            rate: None,
            daily_limit: Some(10_000),
            warmup: vec![500, 1000, 2500],
        };
        let days: Vec<Option<u64>> = (0..5).map(|d| relay.limit_on(d)).collect();
        assert_eq!(
            days,
            [
                Some(500),
                Some(1000),
                Some(2500),
                Some(10_000),
                Some(10_000)
            ]
        );
        relay.daily_limit = None;
        assert_eq!(relay.limit_on(9), Some(2500));
        relay.warmup.clear();
        assert_eq!(relay.limit_on(0), None);
    }
}
