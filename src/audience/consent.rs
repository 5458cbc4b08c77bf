//! Who may move a reader from which status to which: the one place that
//! decides (the table in ARCHITECTURE.md). Every writer of the list (the
//! CLI, `serve`, `bounces`, a send's refusals, `--compact`) asks `decide`
//! and writes only what it answers; every reader of the list folds rows
//! into a `Standing` (`audience::standing`).
//!
//! The rule under it: when in doubt, do not mail, and do not write anyone
//! off. A suppression (`unsubscribed`, `bounced`, `complained`) lasts until
//! the reader's own confirmation or the editor's explicit `subscribe`.

pub use crate::audience::standing::{Standing, judge, scan_rows, secs};
use crate::audience::subscribers::Status;

/// Who asks for a change, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A web sign-up (anyone can make one, for any address). A sign-up
    /// already waiting that was made before `renew_before` (its link has
    /// expired) is made anew.
    SignUp { renew_before: u32 },
    /// The reader pressed the confirm link of the sign-up made at
    /// `signed_up` (Unix seconds, sealed in the link).
    Confirm { signed_up: u32 },
    /// The reader asked to leave (one-click, mailto, or the editor's
    /// `unsubscribe EMAIL` on their behalf).
    Unsubscribe,
    /// The reader pressed "Undo" on the page that said they were
    /// unsubscribed (carrying the same keyed token): back to subscribed,
    /// but only while that unsubscribe, made at `unsubscribed_at`, is
    /// still their last change. (`serve` offers it for a day.)
    Undo { unsubscribed_at: u32 },
    /// The editor's `subscribe EMAIL`: the one way, besides the reader's
    /// own confirmation or undo, back from a suppression.
    EditorSubscribe,
    /// A subscribed row of `subscribe --from FILE`: adds new readers only.
    Import,
    /// A row of an import whose status is a suppression (`unsubscribed`,
    /// `bounced`, `complained`, and what other tools call them): recorded
    /// for a new address and over a reader who is mailed or signing up,
    /// so a later import cannot subscribe them; an earlier suppression
    /// stands.
    ImportSuppressed(Status),
    /// The reader's mailbox is gone (a hard bounce), or soft bounces went
    /// over the limit, in mail dated `at`.
    Bounce { at: u32 },
    /// The reader reported an issue as spam, in mail dated `at`.
    Complaint { at: u32 },
}

/// What to do about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Append a row with this status.
    Write(Status),
    /// Write nothing, for this reason.
    Keep(Why),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Already so.
    Already,
    /// A sign-up is waiting already: its confirmation may go again.
    StillPending,
    /// Bounced or complained: a sign-up sends nothing and writes nothing.
    Suppressed,
    /// Unsubscribed, bounced or complained: an import leaves it alone.
    Left,
    /// Not on the list (or nothing to leave).
    NotOnList,
    /// A confirm link that is not for the live sign-up: used, or
    /// overtaken by a later change.
    StaleLink,
    /// A bounce or complaint older than the reader's last change of
    /// status (the editor brought them back since), or about a reader who
    /// is not mailed anyway.
    Outdated,
}

/// The table. `now` is the standing the list gives, `None` for an address
/// not on it.
pub fn decide(now: Option<&Standing>, event: Event) -> Decision {
    use Decision::{Keep, Write};
    use Status::*;
    let status = now.map(|s| s.status);
    let pending = now.is_some_and(Standing::signing_up);
    match event {
        Event::SignUp { renew_before } => match now {
            None => Write(Pending),
            Some(s) => match s.status {
                Subscribed => Keep(Why::Already),
                Bounced | Complained => Keep(Why::Suppressed),
                Pending | Unsubscribed if pending && s.pending >= renew_before => {
                    Keep(Why::StillPending)
                }
                Pending | Unsubscribed => Write(Pending),
            },
        },
        // Only the live sign-up's own link: a second press (even a
        // double click) or a press after any later change finds no live
        // sign-up of that time.
        Event::Confirm { signed_up } => match now {
            Some(s) if s.pending != 0 && s.pending == signed_up.max(1) => Write(Subscribed),
            Some(_) => Keep(Why::StaleLink),
            None => Keep(Why::NotOnList),
        },
        Event::Unsubscribe => match status {
            Some(Subscribed | Pending) => Write(Unsubscribed),
            // A sign-up waiting over an earlier unsubscribe: cancelled.
            Some(Unsubscribed) if pending => Write(Unsubscribed),
            Some(_) => Keep(Why::Already),
            None => Keep(Why::NotOnList),
        },
        // Their own unsubscribe, undone while nothing came after it.
        Event::Undo { unsubscribed_at } => match now {
            Some(s)
                if s.status == Unsubscribed
                    && !pending
                    && s.damaged == 0
                    && unsubscribed_at != 0
                    && s.changed == unsubscribed_at =>
            {
                Write(Subscribed)
            }
            Some(_) => Keep(Why::StaleLink),
            None => Keep(Why::NotOnList),
        },
        // The editor's word settles a reader held by a row that cannot
        // be read, too.
        Event::EditorSubscribe => match now {
            Some(s) if s.status == Subscribed && !pending && s.damaged == 0 => Keep(Why::Already),
            _ => Write(Subscribed),
        },
        Event::Import => match status {
            None => Write(Subscribed),
            Some(Subscribed) => Keep(Why::Already),
            Some(Pending) => Keep(Why::StillPending),
            Some(_) => Keep(Why::Left),
        },
        Event::ImportSuppressed(to) => match status {
            None | Some(Subscribed | Pending) => Write(to),
            Some(_) => Keep(Why::Left),
        },
        Event::Bounce { at } => match now {
            Some(s) if matches!(s.status, Subscribed | Pending) && newer(at, s) => Write(Bounced),
            Some(_) => Keep(Why::Outdated),
            None => Keep(Why::NotOnList),
        },
        Event::Complaint { at } => match now {
            Some(s) if s.status == Complained => Keep(Why::Already),
            Some(s) if newer(at, s) => Write(Complained),
            Some(_) => Keep(Why::Outdated),
            None => Keep(Why::NotOnList),
        },
    }
}

/// Whether mail dated `at` is newer than the standing's last change. A
/// change without a time (a hand-written row) is older than any mail.
fn newer(at: u32, s: &Standing) -> bool {
    s.changed == 0 || at > s.changed
}

/// The table as ARCHITECTURE.md prints it: event, then the outcome from
/// each status (not on the list, subscribed, pending, unsubscribed,
/// bounced, complained). A unit test keeps the two the same.
#[cfg(test)]
pub const TABLE: &[(&str, [&str; 6])] = &[
    (
        "web sign-up",
        [
            "pending",
            "—",
            "— (same link again)",
            "pending¹",
            "— (no mail)",
            "— (no mail)",
        ],
    ),
    (
        "confirm link of the live sign-up",
        ["—", "—", "subscribed", "subscribed", "—", "—"],
    ),
    (
        "unsubscribe (one-click, mailto, CLI)",
        ["—", "unsubscribed", "unsubscribed", "—²", "—", "—"],
    ),
    (
        "undo of the reader's latest unsubscribe",
        ["—", "—", "—", "subscribed³", "—", "—"],
    ),
    (
        "editor's `subscribe EMAIL`",
        [
            "subscribed",
            "—",
            "subscribed",
            "subscribed",
            "subscribed",
            "subscribed",
        ],
    ),
    (
        "import (`subscribe --from`), a subscribed row",
        ["subscribed", "—", "—", "—", "—", "—"],
    ),
    (
        "import, an `unsubscribed` row (`bounced`, `complained` alike)",
        [
            "unsubscribed",
            "unsubscribed",
            "unsubscribed",
            "—",
            "—",
            "—",
        ],
    ),
    (
        "hard bounce, soft limit (newer)",
        ["—", "bounced", "bounced", "—", "—", "—"],
    ),
    (
        "complaint (newer)",
        [
            "—",
            "complained",
            "complained",
            "complained",
            "complained",
            "—",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(status: Option<Status>, pending: u32) -> Option<Standing> {
        status.map(|s| {
            let mut st = Standing::new(s, 100);
            if pending != 0 {
                st.fold(Status::Pending, pending, true);
            }
            st
        })
    }

    fn cell(d: Decision) -> &'static str {
        match d {
            Decision::Write(s) => s.as_str(),
            Decision::Keep(_) => "—",
        }
    }

    /// ARCHITECTURE.md's table, cell by cell, is what `decide` does.
    #[test]
    fn the_documented_table_is_the_one_that_decides() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
        let statuses = [
            None,
            Some(Status::Subscribed),
            Some(Status::Pending),
            Some(Status::Unsubscribed),
            Some(Status::Bounced),
            Some(Status::Complained),
        ];
        let events = [
            Event::SignUp { renew_before: 0 },
            Event::Confirm { signed_up: 500 },
            Event::Unsubscribe,
            Event::Undo {
                unsubscribed_at: 100,
            },
            Event::EditorSubscribe,
            Event::Import,
            Event::ImportSuppressed(Status::Unsubscribed),
            Event::Bounce { at: 200 },
            Event::Complaint { at: 200 },
        ];
        for ((name, cells), event) in TABLE.iter().zip(events) {
            let line = format!("| {name} | {} |", cells.join(" | "));
            assert!(doc.contains(&line), "ARCHITECTURE.md lacks: {line}");
            for (status, want) in statuses.iter().zip(cells) {
                // A confirm link is only ever made for a live sign-up.
                let pending = match (event, status) {
                    (Event::Confirm { .. }, Some(Status::Pending | Status::Unsubscribed)) => 500,
                    _ => 0,
                };
                let got = cell(decide(standing(*status, pending).as_ref(), event));
                let want = want
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(['¹', '²', '³']);
                assert_eq!(got, want, "{name} from {status:?}");
            }
        }
    }

    #[test]
    fn a_pending_sign_up_never_hides_the_earlier_status() {
        let mut st = Standing::new(Status::Complained, 100);
        st.fold(Status::Pending, 200, true);
        assert_eq!(st.status, Status::Complained);
        assert!(!st.mailed());
        let mut st = Standing::new(Status::Unsubscribed, 100);
        st.fold(Status::Pending, 200, true);
        assert_eq!(st.status, Status::Unsubscribed);
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 200 }),
            Decision::Write(Status::Subscribed)
        );
        // An unsubscribe cancels the sign-up; its link then is stale.
        assert_eq!(
            decide(Some(&st), Event::Unsubscribe),
            Decision::Write(Status::Unsubscribed)
        );
        st.fold(Status::Unsubscribed, 300, true);
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 200 }),
            Decision::Keep(Why::StaleLink)
        );
    }

    #[test]
    fn a_confirm_link_works_once_and_only_for_its_own_sign_up() {
        let mut st = Standing::new(Status::Pending, 200);
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 150 }),
            Decision::Keep(Why::StaleLink)
        );
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 200 }),
            Decision::Write(Status::Subscribed)
        );
        st.fold(Status::Subscribed, 250, true);
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 200 }),
            Decision::Keep(Why::StaleLink)
        );
        st.fold(Status::Unsubscribed, 300, true);
        assert_eq!(
            decide(Some(&st), Event::Confirm { signed_up: 200 }),
            Decision::Keep(Why::StaleLink)
        );
    }

    #[test]
    fn a_bounce_older_than_the_editors_decision_changes_nothing() {
        let mut st = Standing::new(Status::Bounced, 100);
        st.fold(Status::Subscribed, 300, true);
        assert_eq!(
            decide(Some(&st), Event::Bounce { at: 200 }),
            Decision::Keep(Why::Outdated)
        );
        assert_eq!(
            decide(Some(&st), Event::Bounce { at: 400 }),
            Decision::Write(Status::Bounced)
        );
        // A row without a time is older than any mail.
        let hand = Standing::new(Status::Subscribed, 0);
        assert_eq!(
            decide(Some(&hand), Event::Bounce { at: 1 }),
            Decision::Write(Status::Bounced)
        );
    }

    #[test]
    fn an_empty_status_after_a_suppression_lifts_nothing_and_damage_holds() {
        let mut st = Standing::new(Status::Unsubscribed, 100);
        st.fold(Status::Subscribed, 0, false);
        assert_eq!(st.status, Status::Unsubscribed);
        let mut st = Standing::new(Status::Subscribed, 100);
        st.damaged = 7;
        assert!(!st.mailed());
        assert_eq!(
            decide(Some(&st), Event::EditorSubscribe),
            Decision::Write(Status::Subscribed)
        );
        st.fold(Status::Subscribed, 0, false);
        assert!(st.mailed());
    }
}
