//! Times an editor schedules a send by (`send --at`): an instant, or a
//! wall-clock time in an IANA zone. Parsed once, with the zone database; a
//! local time that a daylight-saving change skips or repeats is refused,
//! naming both readings, never guessed.

use std::fmt;
use std::time::{Duration, SystemTime};

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ZonedDateTime as Zoned};

/// An IANA time zone the database knows ("Europe/Berlin", "UTC").
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    pub fn parse(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("is empty; give an IANA zone such as \"Europe/Berlin\"".into());
        }
        match TimeZone::get(name) {
            Ok(tz) => Ok(Zone {
                name: tz.iana_name().unwrap_or(name).to_owned(),
                tz,
            }),
            Err(_) => Err(format!(
                "{name:?} is not a time zone this machine knows; give an IANA name such as \"Europe/Berlin\" or \"America/New_York\""
            )),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `at` as a wall-clock time here, with the zone's abbreviation:
    /// "2026-12-09 08:00 CET".
    pub fn show(&self, at: SystemTime) -> String {
        let zoned = Zoned::new(timestamp(at), self.tz.clone());
        format!(
            "{} {}",
            zoned.strftime("%Y-%m-%d %H:%M"),
            abbreviation(&zoned)
        )
    }

    /// The instant `when` names here: refused when the zone skips that
    /// time (spring forward) or has it twice (fall back).
    pub fn instant(&self, when: DateTime) -> Result<SystemTime, String> {
        let ambiguous = self.tz.to_ambiguous_zoned_datetime(when);
        let reading = |offset: jiff::tz::Offset| -> Result<(String, String), String> {
            let at = offset
                .to_timestamp(when)
                .map_err(|e| format!("{when} is out of range: {e}"))?;
            let zoned = Zoned::new(at, self.tz.clone());
            Ok((
                format!(
                    "{}{}",
                    when.strftime("%Y-%m-%dT%H:%M:%S"),
                    rfc3339_offset(offset)
                ),
                format!(
                    "{} {}, {} UTC",
                    zoned.strftime("%H:%M"),
                    abbreviation(&zoned),
                    at.strftime("%H:%M")
                ),
            ))
        };
        let shown = when.strftime("%Y-%m-%d %H:%M");
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset
                .to_timestamp(when)
                .map(system_time)
                .map_err(|e| format!("{shown} is out of range: {e}")),
            AmbiguousOffset::Gap { before, after } => {
                let (a, a_means) = reading(before)?;
                let (b, b_means) = reading(after)?;
                Err(format!(
                    "{shown} does not exist in {}: the clocks skip it (daylight saving starts); \
                     say which you mean: {a} (that is {a_means}) or {b} ({b_means})",
                    self.name
                ))
            }
            AmbiguousOffset::Fold { before, after } => {
                let (a, a_means) = reading(before)?;
                let (b, b_means) = reading(after)?;
                Err(format!(
                    "{shown} happens twice in {}: the clocks go back over it (daylight saving ends); \
                     say which you mean: {a} (the first, {a_means}) or {b} (the second, {b_means})",
                    self.name
                ))
            }
        }
    }

    /// The later of the instants `when` may name here (its only one,
    /// unless the zone skips it or has it twice).
    fn latest(&self, when: DateTime) -> Option<SystemTime> {
        let at = self.tz.to_ambiguous_timestamp(when).later().ok()?;
        Some(system_time(at))
    }

    /// The date here at `at`.
    pub fn date(&self, at: SystemTime) -> Date {
        Zoned::new(timestamp(at), self.tz.clone()).date()
    }
}

/// "+01:00", as RFC 3339 writes an offset.
fn rfc3339_offset(offset: jiff::tz::Offset) -> String {
    let secs = offset.seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

fn abbreviation(zoned: &Zoned) -> String {
    zoned
        .time_zone()
        .to_offset_info(zoned.timestamp())
        .abbreviation()
        .to_owned()
}

/// Zone names met in a list, each looked up once: what `check` says of a
/// reader's `timezone`.
#[derive(Default)]
pub struct ZoneNames(std::collections::HashMap<String, Option<String>>);

impl ZoneNames {
    /// Why `zone` is not a zone, if it is not; an empty field is fine
    /// (the newsletter's zone is used).
    pub fn unknown(&mut self, zone: &str) -> Option<String> {
        let zone = zone.trim();
        if zone.is_empty() {
            return None;
        }
        self.0
            .entry(zone.to_owned())
            .or_insert_with(|| {
                Zone::parse(zone)
                    .err()
                    .map(|why| format!("`timezone`: {why}"))
            })
            .clone()
    }
}

/// When `send --at` goes.
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    /// One instant, with the zone it was given in (none for RFC 3339).
    Instant { at: SystemTime, zone: Option<Zone> },
    /// With `--local`: a wall-clock time in each reader's own zone, on
    /// `date`, or (without one) at its next such time.
    Local { date: Option<Date>, time: Time },
}

impl At {
    /// `--at TIME` (and `--local`): RFC 3339 with an offset, or
    /// "YYYY-MM-DD HH:MM[:SS] [Zone]" (the zone defaulting to `default`);
    /// with `local`, "HH:MM" or "YYYY-MM-DD HH:MM" and no zone.
    pub fn parse(text: &str, local: bool, default: Option<&Zone>) -> Result<At, String> {
        let text = text.trim();
        if local {
            return parse_local(text);
        }
        if let Ok(ts) = text.parse::<Timestamp>() {
            return Ok(At::Instant {
                at: system_time(ts),
                zone: None,
            });
        }
        let (wall, zone) = match text.rsplit_once(' ') {
            Some((wall, zone)) if zone.contains('/') || zone.eq_ignore_ascii_case("UTC") => {
                (wall.trim(), Some(Zone::parse(zone)?))
            }
            _ => (text, None),
        };
        if zone.is_some() && wall.parse::<Timestamp>().is_ok() {
            return Err(format!(
                "{text:?} has both an offset and a zone: give one (the offset alone is RFC 3339)"
            ));
        }
        if wall.contains('[') {
            return Err(forms(text));
        }
        let when: DateTime = wall.parse().map_err(|_| forms(text))?;
        let zone = match zone.or_else(|| default.cloned()) {
            Some(z) => z,
            None => {
                return Err(format!(
                    "{text:?} has no zone: add one (\"{wall} Europe/Berlin\"), give an offset \
                     (RFC 3339), or set [newsletter] timezone"
                ));
            }
        };
        Ok(At::Instant {
            at: zone.instant(when)?,
            zone: Some(zone),
        })
    }

    /// The instant a reader in `zone` is due, for a run whose clock reads
    /// `now` and that may be up to `late` late; `None` for an instant.
    pub fn in_zone(
        &self,
        zone: &Zone,
        now: SystemTime,
        late: Duration,
    ) -> Result<Option<SystemTime>, String> {
        let At::Local { date, time } = self else {
            return Ok(None);
        };
        if let Some(date) = date {
            return zone.instant(date.to_datetime(*time)).map(Some);
        }
        // The first such time in that zone not longer ago than `late`.
        let earliest = now.checked_sub(late).unwrap_or(now);
        let today = zone.date(now);
        for days in -1..=1 {
            let day = today
                .checked_add(jiff::Span::new().days(days))
                .map_err(|e| e.to_string())?;
            let wall = day.to_datetime(*time);
            // A day whose every reading is past is passed over, even one
            // where the time falls in a gap or a fold: only the day the
            // run would send on is asked to be unambiguous.
            if zone.latest(wall).is_some_and(|at| at < earliest) {
                continue;
            }
            return zone.instant(wall).map(Some);
        }
        Err(format!("no {time} in {} within a day", zone.name()))
    }
}

fn parse_local(text: &str) -> Result<At, String> {
    // Each reader's zone decides the instant: an offset or a zone here
    // would be ignored, so it is refused.
    let zoned = text.parse::<Timestamp>().is_ok()
        || text.contains('[')
        || text
            .rsplit_once(' ')
            .is_some_and(|(_, z)| z.contains('/') || z.eq_ignore_ascii_case("UTC"));
    if zoned {
        return Err(format!(
            "{text:?}: --local takes a time with no zone or offset (\"08:00\", or \"2026-12-09 \
             08:00\"): each reader's own zone decides when"
        ));
    }
    // The dated form first: jiff's `Time` parser also reads the time out
    // of a whole date-time, which would drop the date.
    if let Ok(dt) = text.parse::<DateTime>() {
        return Ok(At::Local {
            date: Some(dt.date()),
            time: dt.time(),
        });
    }
    match text.parse::<Time>() {
        Ok(time) => Ok(At::Local { date: None, time }),
        Err(_) => Err(format!(
            "{text:?} is not a time for --local: give \"08:00\" (the next 08:00 in each reader's zone) \
             or \"2026-12-09 08:00\", with no zone"
        )),
    }
}

fn forms(text: &str) -> String {
    format!(
        "{text:?} is not a time: give RFC 3339 with an offset (2026-12-09T08:00:00+01:00) \
         or a local time and zone (\"2026-12-09 08:00 Europe/Berlin\")"
    )
}

fn timestamp(at: SystemTime) -> Timestamp {
    Timestamp::try_from(at).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn system_time(ts: Timestamp) -> SystemTime {
    SystemTime::try_from(ts).unwrap_or(std::time::UNIX_EPOCH)
}

/// `at` in UTC: "2026-12-09 07:00:00 UTC".
pub fn utc(at: SystemTime) -> String {
    timestamp(at).strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A span to the second, as `--late` takes them: "2h 3m 12s".
pub fn span(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs().max(1))).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Zone {
        Zone::parse("Europe/Berlin").expect("fine")
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_is_refused_with_both_readings() {
        let err = At::parse("2026-03-29 02:30 Europe/Berlin", false, None).expect_err("refused");
        assert!(err.contains("does not exist in Europe/Berlin"), "{err}");
        assert!(err.contains("2026-03-29T02:30:00+01:00"), "{err}");
        assert!(err.contains("2026-03-29T02:30:00+02:00"), "{err}");
    }

    #[test]
    fn a_time_in_the_fall_back_fold_is_refused_with_both_readings() {
        let err = At::parse("2026-10-25 02:30", false, Some(&berlin())).expect_err("refused");
        assert!(err.contains("happens twice in Europe/Berlin"), "{err}");
        assert!(
            err.contains("2026-10-25T02:30:00+02:00 (the first"),
            "{err}"
        );
        assert!(
            err.contains("2026-10-25T02:30:00+01:00 (the second"),
            "{err}"
        );
    }

    #[test]
    fn local_times_and_offsets_name_the_same_instant() {
        let a = At::parse("2026-12-09 08:00 Europe/Berlin", false, None).expect("fine");
        let b = At::parse("2026-12-09T08:00:00+01:00", false, None).expect("fine");
        let (At::Instant { at: a, .. }, At::Instant { at: b, .. }) = (a, b) else {
            panic!("not instants");
        };
        assert_eq!(a, b);
        assert_eq!(utc(a), "2026-12-09 07:00:00 UTC");
        assert!(At::parse("2026-12-09 08:00", false, None).is_err());
        assert!(At::parse("2026-12-09 08:00 Mars/Olympus", false, None).is_err());
    }

    #[test]
    fn a_dated_local_time_keeps_its_date() {
        let at = At::parse("2026-12-24 08:00", true, None).expect("fine");
        let tokyo = Zone::parse("Asia/Tokyo").expect("fine");
        let now = system_time("2026-12-09T07:00:00Z".parse::<Timestamp>().expect("fine"));
        let got = at
            .in_zone(&tokyo, now, Duration::from_secs(3600))
            .expect("fine");
        assert_eq!(utc(got.expect("fine")), "2026-12-23 23:00:00 UTC");
    }

    #[test]
    fn zones_and_offsets_are_refused_where_they_would_be_ignored() {
        for text in [
            "2026-12-09T08:00:00+01:00",
            "2026-12-09 08:00 Europe/Berlin",
            "08:00 Asia/Tokyo",
            "2026-12-09T08:00[Europe/Berlin]",
        ] {
            let err = At::parse(text, true, None).expect_err(text);
            assert!(err.contains("no zone or offset"), "{err}");
        }
        let err =
            At::parse("2026-12-09T08:00:00+01:00 Europe/Berlin", false, None).expect_err("refused");
        assert!(err.contains("both an offset and a zone"), "{err}");
    }

    #[test]
    fn yesterdays_gap_does_not_stop_a_bare_local_time() {
        // 2026-03-30 08:00 UTC: in Berlin it is 10:00, the day after the
        // clocks skipped 02:00-03:00. "02:30" is next due tomorrow.
        let at = At::parse("02:30", true, None).expect("fine");
        let now = system_time("2026-03-30T08:00:00Z".parse::<Timestamp>().expect("fine"));
        let got = at
            .in_zone(&berlin(), now, Duration::from_secs(3600))
            .expect("yesterday's gap is passed over");
        assert_eq!(utc(got.expect("fine")), "2026-03-31 00:30:00 UTC");
        // On the day itself, before the gap, it is refused.
        let before = system_time("2026-03-28T23:00:00Z".parse::<Timestamp>().expect("fine"));
        let err = at
            .in_zone(&berlin(), before, Duration::from_secs(3600))
            .expect_err("the gap is the next 02:30");
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_bare_local_time_is_the_next_one_within_late() {
        let at = At::parse("08:00", true, None).expect("fine");
        let tokyo = Zone::parse("Asia/Tokyo").expect("fine");
        // 2026-12-09 07:00 UTC is 16:00 in Tokyo: its next 08:00 is tomorrow's.
        let now = system_time("2026-12-09T07:00:00Z".parse::<Timestamp>().expect("fine"));
        let got = at
            .in_zone(&tokyo, now, Duration::from_secs(3600))
            .expect("fine");
        assert_eq!(utc(got.expect("fine")), "2026-12-09 23:00:00 UTC");
        // In Berlin it is 08:00 now.
        let got = at
            .in_zone(&berlin(), now, Duration::from_secs(3600))
            .expect("fine");
        assert_eq!(utc(got.expect("fine")), "2026-12-09 07:00:00 UTC");
        // Half an hour on, still within --late 1h: the same 08:00.
        let later = now + Duration::from_secs(1800);
        let got = at
            .in_zone(&berlin(), later, Duration::from_secs(3600))
            .expect("fine");
        assert_eq!(utc(got.expect("fine")), "2026-12-09 07:00:00 UTC");
    }
}
