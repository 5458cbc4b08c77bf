//! The confirmation outbox: which web sign-ups want their confirmation
//! mail. The outbox itself is the list: every live `pending` row wants a
//! mail; the confirmations ledger (`ledger`, beside the list) says which
//! were mailed, so after a restart `serve` mails the live sign-ups it does
//! not settle, and `list` and `status` count those whose mail never left.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::audience::ledger::{Outcome, State};
use crate::audience::standing::Standing;
use crate::audience::subscribers::{Snapshot, SubscriberFile};
use crate::input::diagnostic::Diagnostic;
use crate::input::email::{Email, FingerprintMap};

/// One live sign-up that wants its mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub email: Email,
    /// The sign-up's time (Unix seconds): its link seals it.
    pub signed_up: u32,
    /// The language the sign-up was made in: its confirmation is written
    /// in it. After a restart, the row's `lang`, when the list has one;
    /// else the newsletter's.
    pub lang: Option<crate::input::lang::Lang>,
}

/// The live sign-ups of the list (younger than `expiry` at `now`) whose
/// confirmation the ledger does not settle (never tried, or to be tried
/// again): the outbox.
pub fn waiting(
    list: &Path,
    confirmations: &State,
    expiry: Duration,
    now: SystemTime,
) -> Result<Vec<Waiting>, Diagnostic> {
    if !list.exists() {
        return Ok(Vec::new());
    }
    let snap = Snapshot::take(list)?;
    let standings: FingerprintMap<Standing> = SubscriberFile::open(&snap)?.standings()?;
    // Most lists have no sign-up waiting: then one pass is all it takes.
    if !standings.values().any(Standing::signing_up) {
        return Ok(Vec::new());
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut out = Vec::new();
    let mut seen = crate::input::email::FingerprintSet::default();
    // The language of each address's latest sign-up (its last `pending`
    // row), not of an earlier one.
    let mut langs: FingerprintMap<Option<crate::input::lang::Lang>> = FingerprintMap::default();
    for s in SubscriberFile::open(&snap)?.flatten() {
        let key = s.email.fingerprint();
        if s.status == crate::audience::subscribers::Status::Pending {
            langs.insert(key, s.lang.clone());
        }
        let Some(standing) = standings.get(&key) else {
            continue;
        };
        let live = standing.signing_up()
            && standing.damaged == 0
            && u64::from(standing.pending) + expiry.as_secs() >= now;
        let settled = confirmations
            .outcome(&s.email.key(), standing.pending)
            .is_some_and(Outcome::settled);
        if live && seen.insert(key) && !settled {
            out.push(Waiting {
                email: s.email,
                signed_up: standing.pending,
                lang: None,
            });
        }
    }
    for w in &mut out {
        w.lang = langs.get(&w.email.fingerprint()).cloned().flatten();
    }
    Ok(out)
}

/// How many sign-ups among `standings` are waiting and were never mailed
/// their confirmation (not tried yet, given up on, refused): as opposed to
/// sent, or `unknown` (counted apart).
pub fn unmailed(confirmations: &State, standings: &FingerprintMap<Standing>) -> u64 {
    let mailed: std::collections::HashSet<(crate::input::email::Fingerprint, u32)> = confirmations
        .last
        .iter()
        .filter(|(_, o)| o.may_have_arrived())
        .map(|((key, signed_up), _)| (crate::input::email::key_fingerprint(key), *signed_up))
        .collect();
    standings
        .iter()
        .filter(|(fp, s)| s.signing_up() && !mailed.contains(&(**fp, s.pending)))
        .count() as u64
}

/// What the side-mail ledgers say that an editor should know.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SideMail {
    /// Sign-ups waiting whose confirmation never left (`unmailed`).
    pub unmailed: u64,
    /// Confirmations and welcomes whose reply to the final dot never came
    /// (or a kill came first): they may have arrived, and are not sent
    /// again on their own.
    pub unknown_confirmations: u64,
    pub unknown_welcomes: u64,
}

/// Reads both ledgers beside `list` against its `standings` (every
/// address's, or those not plainly subscribed: sign-ups are among them).
pub fn side_mail(
    list: &Path,
    standings: &FingerprintMap<Standing>,
) -> Result<SideMail, Diagnostic> {
    use crate::audience::ledger::{Kind, read};
    let confirmations = State::fold(&read(list, Kind::Confirmation)?);
    let welcomes = State::fold(&read(list, Kind::Welcome)?);
    Ok(SideMail {
        unmailed: unmailed(&confirmations, standings),
        unknown_confirmations: confirmations.unknown(),
        unknown_welcomes: welcomes.unknown(),
    })
}

impl std::fmt::Display for SideMail {
    /// "; 2 sign-ups waiting whose confirmation has not gone; 1 welcome
    /// may have arrived (`unknown`)", or nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unmailed > 0 {
            write!(
                f,
                "; {} waiting whose confirmation mail has not gone (see `serve`'s log)",
                crate::count(self.unmailed, "sign-up", "sign-ups")
            )?;
        }
        for (n, one, many) in [
            (self.unknown_confirmations, "confirmation", "confirmations"),
            (self.unknown_welcomes, "welcome", "welcomes"),
        ] {
            if n > 0 {
                write!(
                    f,
                    "; {} unknown: the relay never answered the end of the message, so it may have arrived; not sent again",
                    crate::count(n, one, many)
                )?;
            }
        }
        Ok(())
    }
}
