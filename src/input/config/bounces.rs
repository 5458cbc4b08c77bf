//! `[bounces]`: where bounces, complaints and mailed unsubscribes come
//! back (the envelope sender, VERP), and when soft bounces count as one.

use serde::Deserialize;
use toml::Spanned;

use crate::input::email::Email;
use crate::input::toml_file::TomlFile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounces {
    /// `bounces@example.org`: each message's envelope sender becomes
    /// `bounces+{token}@example.org`.
    pub address: Email,
    /// Soft bounces, each from a different issue, that make a reader
    /// `bounced`...
    pub soft_limit: u32,
    /// ...within this many days.
    pub soft_window_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBounces {
    address: Spanned<String>,
    #[serde(default = "default_soft_limit")]
    soft_limit: u32,
    #[serde(default = "default_window")]
    soft_window_days: u32,
}

fn default_soft_limit() -> u32 {
    3
}

fn default_window() -> u32 {
    30
}

pub(super) fn check_bounces(file: &mut TomlFile, raw: RawBounces) -> Option<Bounces> {
    let address = match Email::parse(raw.address.get_ref()) {
        Ok(a) if !a.as_str().contains('+') && a.address().user().is_ascii() => a,
        Ok(_) => {
            file.problem_at(
                raw.address.span().start,
                "[bounces] `address` must be a plain ASCII address without `+`: bulletin adds `+token` to it",
            );
            return None;
        }
        Err(why) => {
            file.problem_at(
                raw.address.span().start,
                format!("[bounces] `address`: {why}"),
            );
            return None;
        }
    };
    if raw.soft_limit == 0 || raw.soft_window_days == 0 {
        file.problem_at(
            raw.address.span().start,
            "[bounces] `soft_limit` and `soft_window_days` must be at least 1",
        );
        return None;
    }
    Some(Bounces {
        address,
        soft_limit: raw.soft_limit,
        soft_window_days: raw.soft_window_days,
    })
}
