//! The words of `bulletin serve`: every page a reader's link or the
//! sign-up form opens, and the sign-up's confirmation mail (and the few
//! the archive's pages share with them: the ways on, the index), in English,
//! Japanese, German, French and Spanish (one file each, checked complete
//! by the compiler: each is a `match` over every `Say`). A config's
//! `[words.<lang>]` may set any of them by its key.
//!
//! Placeholders, filled by `fill`: `{name}` the newsletter's name,
//! `{email}` the reader's address, `{lasts}` how long a link works, `{n}`
//! a number.

mod de;
mod en;
mod es;
mod fr;
mod ja;

/// Declares `Say` with each word's config key, in one list.
macro_rules! words {
    ($($say:ident = $key:literal,)*) => {
        /// One thing `serve` says.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Say { $($say,)* }

        impl Say {
            /// Every word, in the order the docs list them.
            pub const ALL: &'static [Say] = &[$(Say::$say,)*];

            /// Its key in `[words.<lang>]`.
            pub fn key(self) -> &'static str {
                match self { $(Say::$say => $key,)* }
            }
        }
    };
}

words! {
    ProblemTitle = "problem_title",
    NotFoundTitle = "not_found_title",
    NotFound = "not_found",
    IssuesSoFar = "issues_so_far",
    EmailLabel = "email_label",
    NameLabel = "name_label",
    LeaveEmpty = "leave_empty",
    SubscribeButton = "subscribe_button",
    SignupNote = "signup_note",
    TopicsLegend = "topics_legend",
    SubscribeTitle = "subscribe_title",
    ConfirmTitle = "confirm_title",
    ConfirmDetails = "confirm_details",
    ConfirmButton = "confirm_button",
    InboxTitle = "inbox_title",
    InboxSent = "inbox_sent",
    InboxNothing = "inbox_nothing",
    SubscribedTitle = "subscribed_title",
    Subscribed = "subscribed",
    AlreadyTitle = "already_title",
    Already = "already",
    StaleTitle = "stale_title",
    SignUpAgain = "sign_up_again",
    UnsubscribeTitle = "unsubscribe_title",
    UnsubscribePress = "unsubscribe_press",
    UnsubscribeButton = "unsubscribe_button",
    UnsubscribedTitle = "unsubscribed_title",
    Unsubscribed = "unsubscribed",
    UndoOffer = "undo_offer",
    UndoButton = "undo_button",
    ResubscribedTitle = "resubscribed_title",
    Resubscribed = "resubscribed",
    UndoStaleTitle = "undo_stale_title",
    UndoStale = "undo_stale",
    ConfirmInvalid = "confirm_invalid",
    ConfirmUsed = "confirm_used",
    ConfirmExpired = "confirm_expired",
    UnsubscribeInvalid = "unsubscribe_invalid",
    ListBusy = "list_busy",
    TooManySignups = "too_many_signups",
    TooManyRequests = "too_many_requests",
    NotAnAddress = "not_an_address",
    SignupsBusy = "signups_busy",
    NameTooLong = "name_too_long",
    NameControl = "name_control",
    FormTooBig = "form_too_big",
    FormTooSlow = "form_too_slow",
    FormUnreadable = "form_unreadable",
    FormKind = "form_kind",
    MailSubject = "mail_subject",
    MailAsked = "mail_asked",
    MailPress = "mail_press",
    MailOpen = "mail_open",
    MailButton = "mail_button",
    MailOrOpen = "mail_or_open",
    MailLasts = "mail_lasts",
    OneMinute = "one_minute",
    Minutes = "minutes",
    OneHour = "one_hour",
    Hours = "hours",
    Days = "days",
    WaysLabel = "ways_label",
    WaysSubscribe = "ways_subscribe",
    WaysArchive = "ways_archive",
    LangLabel = "lang_label",
    IndexAbout = "index_about",
    IndexFeed = "index_feed",
}

impl Say {
    /// The word whose key is `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.key() == key)
    }
}

/// Which built-in table a language reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    En,
    Ja,
    De,
    Fr,
    Es,
}

impl Builtin {
    /// The table of a language (its primary subtag), English for one
    /// without its own.
    pub fn of(primary: &str) -> Self {
        match primary {
            "ja" => Self::Ja,
            "de" => Self::De,
            "fr" => Self::Fr,
            "es" => Self::Es,
            _ => Self::En,
        }
    }

    /// The languages with built-in words.
    pub const TAGS: [&'static str; 5] = ["en", "ja", "de", "fr", "es"];

    pub fn text(self, say: Say) -> &'static str {
        match self {
            Self::En => en::text(say),
            Self::Ja => ja::text(say),
            Self::De => de::text(say),
            Self::Fr => fr::text(say),
            Self::Es => es::text(say),
        }
    }
}

/// Two sentences in a row: a space between them, except after a full
/// stop that takes none (Japanese `。`).
pub fn sentences(first: &str, second: &str) -> String {
    match first.ends_with(['。', '！', '？']) {
        true => format!("{first}{second}"),
        false => format!("{first} {second}"),
    }
}

/// `text` with each `{key}` of `values` replaced by its value (one pass:
/// a value that holds `{email}` is not filled again).
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (v, close))
        });
        match hit {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_a_text_in_each_language_and_keys_are_distinct() {
        let mut keys: Vec<&str> = Say::ALL.iter().map(|s| s.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Say::ALL.len());
        for tag in Builtin::TAGS {
            for &say in Say::ALL {
                let text = Builtin::of(tag).text(say);
                assert!(!text.trim().is_empty(), "{tag} {say:?}");
                // The placeholders a word uses are those English uses.
                for p in ["{name}", "{email}", "{lasts}", "{n}"] {
                    assert_eq!(
                        text.contains(p),
                        en::text(say).contains(p),
                        "{tag} {say:?} {p}"
                    );
                }
            }
        }
        assert_eq!(Say::from_key("mail_subject"), Some(Say::MailSubject));
        assert_eq!(Say::from_key("nonsense"), None);
    }

    #[test]
    fn fill_replaces_each_placeholder_once() {
        assert_eq!(
            fill(
                "{email} gets {name} {x}",
                &[("email", "{name}@x"), ("name", "D")]
            ),
            "{name}@x gets D {x}"
        );
        assert_eq!(fill("no { close", &[("name", "D")]), "no { close");
        assert_eq!(sentences("A.", "B."), "A. B.");
        assert_eq!(sentences("あ。", "い。"), "あ。い。");
    }
}
