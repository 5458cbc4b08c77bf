//! `serve`'s words in English: the built-in default.

use super::Say::{self, *};

pub(super) fn text(say: Say) -> &'static str {
    match say {
        ProblemTitle => "Something is not right",
        NotFoundTitle => "There is no page here",
        NotFound => "The address may be mistyped, or the page has moved.",
        IssuesSoFar => "Read the issues so far",
        EmailLabel => "Email address",
        NameLabel => "Name (optional)",
        LeaveEmpty => "Leave this empty",
        SubscribeButton => "Subscribe",
        SignupNote => "We will send you a mail with a link to confirm.",
        TopicsLegend => "What would you like to get?",
        SubscribeTitle => "Subscribe",
        ConfirmTitle => "Confirm your subscription",
        ConfirmDetails => "Check your details, then press the button to subscribe {email}.",
        ConfirmButton => "Confirm",
        InboxTitle => "Check your inbox",
        InboxSent => {
            "If the address is right, a mail with a confirmation link is on its way. \
             Open it and press “Confirm” to subscribe."
        }
        InboxNothing => {
            "Nothing there after a few minutes? Look in the spam folder, or sign up again."
        }
        SubscribedTitle => "You are subscribed",
        Subscribed => "{email} will get the next issue.",
        AlreadyTitle => "You are subscribed already",
        Already => {
            "This confirmation link was used before: you are on the list, \
             and nothing more is needed."
        }
        StaleTitle => "This link no longer works",
        SignUpAgain => "Sign up again below for a fresh link.",
        UnsubscribeTitle => "Unsubscribe",
        UnsubscribePress => "Press the button to stop {name} for {email}.",
        UnsubscribeButton => "Unsubscribe",
        UnsubscribedTitle => "You are unsubscribed",
        Unsubscribed => "{email} will get no more mail from {name}.",
        UndoOffer => "Pressed by mistake? You can undo it within a day.",
        UndoButton => "Undo: keep me subscribed",
        ResubscribedTitle => "You are subscribed again",
        Resubscribed => "{email} will get the next issue of {name}, as before.",
        UndoStaleTitle => "This can no longer be undone",
        UndoStale => {
            "The unsubscribe is more than a day old, was undone already, or something \
             changed since. If you do not get the newsletter and want it, sign up below."
        }
        ConfirmInvalid => "This confirmation link is not valid. Check that it was copied whole.",
        ConfirmUsed => "This confirmation link was used already, or the address changed since.",
        ConfirmExpired => "This confirmation link has expired.",
        UnsubscribeInvalid => "This unsubscribe link is not valid. Check that it was copied whole.",
        ListBusy => "The list cannot be changed just now. Please try again in a minute.",
        TooManySignups => {
            "Too many sign-ups from your address. Please wait a minute and try again."
        }
        TooManyRequests => {
            "Too many requests from your address. Please wait a minute and try again."
        }
        NotAnAddress => "That is not an email address. Go back and check it.",
        SignupsBusy => "Too many sign-ups just now. Please try again in a minute.",
        NameTooLong => "The name may be at most 100 characters long. Go back and shorten it.",
        NameControl => "The name may not contain line breaks or control characters.",
        FormTooBig => "The form is larger than 64 KB.",
        FormTooSlow => "The form took too long to arrive.",
        FormUnreadable => "The form could not be read.",
        FormKind => "Send the form as application/x-www-form-urlencoded or multipart/form-data.",
        MailSubject => "Confirm your subscription to {name}",
        MailAsked => "Someone, we hope you, asked for this address to get {name} by mail.",
        MailPress => "To start getting it, press the button and then “Confirm”.",
        MailOpen => "To start getting it, open this link and press “Confirm”:",
        MailButton => "Confirm my subscription",
        MailOrOpen => "Or open this link:",
        MailLasts => {
            "The link works for {lasts}. If you did not ask for this, ignore this mail: \
             without a confirmation you will not be subscribed, and you will get nothing \
             more from us."
        }
        OneMinute => "1 minute",
        Minutes => "{n} minutes",
        OneHour => "1 hour",
        Hours => "{n} hours",
        Days => "{n} days",
        WaysLabel => "More",
        WaysSubscribe => "Subscribe",
        WaysArchive => "Every issue so far",
        LangLabel => "Language",
        IndexAbout => "Every issue of {name} so far.",
        IndexFeed => "Follow the feed",
    }
}
