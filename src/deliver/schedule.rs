//! When each reader of a scheduled send is due: everyone at one instant
//! (`send --at`), or (`--local`) the same wall-clock time in each reader's
//! own zone, readers due at the same instant making one wave. Decided once,
//! when the run starts: a zone changed later moves nobody in this run.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::input::email::{Fingerprint, FingerprintMap};
use crate::input::when::{At, Zone, span, utc};

/// One instant of a scheduled send and who is due at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub at: SystemTime,
    /// The zones whose readers it mails (or the one `--at` named).
    pub zones: Vec<String>,
    pub readers: u64,
}

impl Wave {
    /// Its time in its (first) zone and in UTC, and its zones:
    /// "2026-12-09 08:00 CET (2026-12-09 07:00:00 UTC; Europe/Berlin)".
    pub fn shown(&self) -> String {
        let local = self
            .zones
            .first()
            .filter(|z| z.as_str() != "UTC")
            .and_then(|z| Zone::parse(z).ok())
            .map(|z| format!("{} (", z.show(self.at)));
        match local {
            Some(local) => format!("{local}{}; {})", utc(self.at), self.zones.join(", ")),
            None => utc(self.at),
        }
    }
}

/// The waves of a run, earliest first.
#[derive(Debug, Default)]
pub struct Plan {
    pub waves: Vec<Wave>,
    /// Each reader's wave: who is mailed is decided when the run starts
    /// (a reader who joins meanwhile waits for the next issue, as during
    /// any send).
    members: FingerprintMap<u32>,
}

impl Plan {
    /// Whether the reader is mailed in wave `wave`.
    pub fn mails(&self, wave: usize, key: Fingerprint) -> bool {
        self.members.get(&key).is_some_and(|w| *w as usize == wave)
    }

    /// The wave a reader belongs to, if the plan mails them.
    pub fn wave_of(&self, key: Fingerprint) -> Option<usize> {
        self.members.get(&key).map(|w| *w as usize)
    }

    /// Refuses a plan with a wave longer ago than `late`, naming how late.
    pub fn refuse_late(&self, now: SystemTime, late: Duration) -> Result<(), String> {
        self.refuse_late_from(0, now, late)
    }

    /// Why wave `i` is too late to send at `now`, checked again as each
    /// wave comes, since a machine that slept or a clock put right may
    /// reach it late: more than `late` past its time, or past `ready` (when
    /// the run was free to send it, its earlier waves sent) if that is
    /// later: the run's own sending never makes a wave late.
    pub fn too_late(
        &self,
        i: usize,
        now: SystemTime,
        late: Duration,
        ready: SystemTime,
    ) -> Option<String> {
        let w = self.waves.get(i)?;
        let ago = now.duration_since(w.at).ok()?;
        let idle = now.duration_since(w.at.max(ready)).ok()?;
        (idle > late).then(|| {
            format!(
                "{} was {} ago, more than --late {}",
                w.shown(),
                span(ago),
                span(late)
            )
        })
    }

    /// As `refuse_late`, for the waves from `first` on.
    fn refuse_late_from(
        &self,
        first: usize,
        now: SystemTime,
        late: Duration,
    ) -> Result<(), String> {
        let too_late: Vec<String> = self
            .waves
            .iter()
            .skip(first)
            .filter_map(|w| {
                let ago = now.duration_since(w.at).ok()?;
                (ago > late).then(|| format!("{} was {} ago", w.shown(), span(ago)))
            })
            .collect();
        if too_late.is_empty() {
            return Ok(());
        }
        let sent = if first == 0 {
            "nothing was sent".to_owned()
        } else {
            format!(
                "{} sent, not this one or later",
                if first == 1 {
                    "the first wave was".to_owned()
                } else {
                    format!("the first {first} waves were")
                }
            )
        };
        Err(format!(
            "too late to send: {}, more than --late {}; {sent}. Give a longer --late to send \
             now, or a new --at (a send that already began resumes with `bulletin send` and \
             no --at, or with the same --at and --local for the waves to come)",
            too_late.join("; "),
            span(late)
        ))
    }
}

/// Builds a plan reader by reader: one instant for all, or (`--local`)
/// the instant each reader's zone (their own, else the newsletter's) gives.
pub struct Zoning<'a> {
    at: &'a At,
    default: Option<&'a Zone>,
    now: SystemTime,
    late: Duration,
    /// Each zone name met, checked once: its instant (an index into
    /// `instants`), or why not.
    known: HashMap<String, Result<usize, String>>,
    /// The distinct instants met, and how many readers each.
    instants: Vec<(SystemTime, u64)>,
    /// Each reader's instant, by index (`--local` only: one instant for
    /// all needs no list of who). Four bytes a reader, a million readers
    /// being a few tens of MiB.
    members: FingerprintMap<u32>,
    /// Lines of due readers with no zone and no newsletter zone.
    zoneless: Vec<u64>,
    /// Unknown zones and refused times, by list line.
    pub problems: Vec<(u64, String)>,
}

impl<'a> Zoning<'a> {
    pub fn new(at: &'a At, default: Option<&'a Zone>, now: SystemTime, late: Duration) -> Self {
        Self {
            at,
            default,
            now,
            late,
            known: HashMap::new(),
            instants: Vec::new(),
            members: FingerprintMap::default(),
            zoneless: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The index of `at` among the instants met.
    fn instant(instants: &mut Vec<(SystemTime, u64)>, at: SystemTime) -> usize {
        match instants.iter().position(|(t, _)| *t == at) {
            Some(i) => i,
            None => {
                instants.push((at, 0));
                instants.len() - 1
            }
        }
    }

    /// The reader on list line `line`, with their `timezone` field (empty
    /// or `None` when they have none).
    pub fn add(&mut self, line: u64, key: Fingerprint, zone: Option<&str>) {
        if let At::Instant { at, zone } = self.at {
            let name = zone.as_ref().map_or("UTC", Zone::name);
            if !self.known.contains_key(name) {
                let i = Self::instant(&mut self.instants, *at);
                self.known.insert(name.to_owned(), Ok(i));
            }
            if let Some((_, n)) = self.instants.first_mut() {
                *n += 1;
            }
            return;
        }
        let name = match zone.map(str::trim).filter(|z| !z.is_empty()) {
            Some(z) => z,
            None => match self.default {
                Some(d) => d.name(),
                None => {
                    self.zoneless.push(line);
                    return;
                }
            },
        };
        if !self.known.contains_key(name) {
            let found = Zone::parse(name)
                .map_err(|why| format!("`timezone`: {why}"))
                .and_then(|zone| {
                    let when = self
                        .at
                        .in_zone(&zone, self.now, self.late)
                        .map_err(|why| format!("`timezone` {}: {why}", zone.name()))?
                        .unwrap_or(self.now);
                    Ok(Self::instant(&mut self.instants, when))
                });
            self.known.insert(name.to_owned(), found);
        }
        match &self.known[name] {
            Ok(i) => {
                self.instants[*i].1 += 1;
                self.members.insert(key, *i as u32);
            }
            Err(why) => self.problems.push((line, why.clone())),
        }
    }

    /// The plan, or every problem by line (readers with no zone as one).
    pub fn finish(self) -> Result<Plan, Vec<(Option<u64>, String)>> {
        let mut problems: Vec<(Option<u64>, String)> = self
            .problems
            .into_iter()
            .map(|(line, why)| (Some(line), why))
            .collect();
        if !self.zoneless.is_empty() {
            let shown: Vec<String> = self.zoneless.iter().take(5).map(u64::to_string).collect();
            problems.push((
                None,
                format!(
                    "{} no `timezone` and [newsletter] timezone is not set (line {}{}); set it, \
                     or give them one",
                    crate::count(self.zoneless.len() as u64, "reader has", "readers have"),
                    shown.join(", "),
                    if self.zoneless.len() > 5 { ", …" } else { "" }
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // Zones due at the same instant share a wave, earliest first.
        let mut order: Vec<usize> = (0..self.instants.len()).collect();
        order.sort_by_key(|&i| self.instants[i].0);
        let mut wave_of = vec![0u32; self.instants.len()];
        let mut waves: Vec<Wave> = Vec::with_capacity(order.len());
        for (w, &i) in order.iter().enumerate() {
            wave_of[i] = w as u32;
            let (at, readers) = self.instants[i];
            waves.push(Wave {
                at,
                zones: Vec::new(),
                readers,
            });
        }
        for (name, found) in self.known {
            if let Ok(i) = found {
                waves[wave_of[i] as usize].zones.push(name);
            }
        }
        for w in &mut waves {
            w.zones.sort();
        }
        let mut members = self.members;
        for w in members.values_mut() {
            *w = wave_of[*w as usize];
        }
        // Every zone met has a reader: no wave is empty.
        let plan = Plan { waves, members };
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::email::fingerprint_of;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).expect("a time")
    }

    #[test]
    fn readers_in_zones_with_the_same_instant_share_a_wave() {
        let when = At::parse("08:00", true, None).expect("a time");
        let berlin = Zone::parse("Europe/Berlin").expect("a zone");
        let now = at("2026-12-09T06:59:00Z");
        let mut z = Zoning::new(&when, Some(&berlin), now, Duration::from_secs(3600));
        z.add(2, fingerprint_of("a@x.org"), Some("Europe/Paris"));
        z.add(3, fingerprint_of("b@x.org"), None);
        z.add(4, fingerprint_of("c@x.org"), Some("America/New_York"));
        z.add(5, fingerprint_of("d@x.org"), Some("Asia/Tokyo"));
        let plan = z.finish().expect("a plan");
        let shown: Vec<(String, Vec<String>, u64)> = plan
            .waves
            .iter()
            .map(|w| (utc(w.at), w.zones.clone(), w.readers))
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "2026-12-09 07:00:00 UTC".to_owned(),
                    vec!["Europe/Berlin".to_owned(), "Europe/Paris".to_owned()],
                    2
                ),
                (
                    "2026-12-09 13:00:00 UTC".to_owned(),
                    vec!["America/New_York".to_owned()],
                    1
                ),
                (
                    "2026-12-09 23:00:00 UTC".to_owned(),
                    vec!["Asia/Tokyo".to_owned()],
                    1
                ),
            ]
        );
        assert!(plan.mails(0, fingerprint_of("b@x.org")));
        assert!(!plan.mails(1, fingerprint_of("b@x.org")));
        assert!(plan.mails(2, fingerprint_of("d@x.org")));
    }

    #[test]
    fn an_unknown_zone_and_readers_without_one_are_named() {
        let when = At::parse("2026-12-09 08:00", true, None).expect("a time");
        let now = at("2026-12-09T06:59:00Z");
        let mut z = Zoning::new(&when, None, now, Duration::from_secs(3600));
        z.add(2, fingerprint_of("a@x.org"), Some("Europe/Atlantis"));
        z.add(3, fingerprint_of("b@x.org"), Some(""));
        z.add(4, fingerprint_of("c@x.org"), Some("Europe/Berlin"));
        let problems = z.finish().expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].0, Some(2));
        assert!(problems[0].1.contains("Europe/Atlantis"), "{problems:?}");
        assert!(
            problems[1].1.contains("1 reader has no `timezone`"),
            "{problems:?}"
        );
        assert!(problems[1].1.contains("line 3"), "{problems:?}");
    }

    #[test]
    fn a_wave_later_than_late_is_refused_with_how_late() {
        let when = At::parse("2026-12-09T07:00:00Z", false, None).expect("a time");
        let mut z = Zoning::new(&when, None, at("2026-12-09T06:00:00Z"), Duration::ZERO);
        z.add(2, fingerprint_of("a@x.org"), Some("Mars/Olympus"));
        let plan = z.finish().expect("one instant: zones do not matter");
        assert_eq!(plan.waves.len(), 1);
        assert_eq!(plan.waves[0].zones, vec!["UTC".to_owned()]);
        let now = at("2026-12-09T09:30:00Z");
        let err = plan
            .refuse_late(now, Duration::from_secs(3600))
            .expect_err("refused");
        assert!(err.contains("2h 30m ago"), "{err}");
        assert!(plan.refuse_late(now, Duration::from_secs(3 * 3600)).is_ok());
    }

    #[test]
    fn each_wave_is_judged_late_on_its_own() {
        let when = At::parse("08:00", true, None).expect("a time");
        let now = at("2026-12-09T06:00:00Z");
        let mut z = Zoning::new(&when, None, now, Duration::from_secs(3600));
        z.add(2, fingerprint_of("a@x.org"), Some("Europe/Berlin"));
        z.add(3, fingerprint_of("b@x.org"), Some("America/New_York"));
        let plan = z.finish().expect("two zones");
        assert_eq!(plan.waves.len(), 2);
        // Woken at 08:30 UTC: Berlin's wave (07:00 UTC) is 1h 30m late, New
        // York's (13:00 UTC) still to come.
        let woke = at("2026-12-09T08:30:00Z");
        let hour = Duration::from_secs(3600);
        let why = plan.too_late(0, woke, hour, now).expect("late");
        assert!(why.contains("1h 30m ago, more than --late 1h"), "{why}");
        assert_eq!(plan.too_late(1, woke, hour, now), None);
        assert_eq!(plan.too_late(0, woke, 2 * hour, now), None);
        // New York's wave reached 2 hours after its time because the run
        // was sending Berlin's until 14:50: its own work, not a sleep.
        let busy_until = at("2026-12-09T14:50:00Z");
        let reached = at("2026-12-09T15:00:00Z");
        assert_eq!(plan.too_late(1, reached, hour, busy_until), None);
        // Idle from 13:00 on and reached at 15:00: it slept.
        assert!(plan.too_late(1, reached, hour, now).is_some());
    }
}
