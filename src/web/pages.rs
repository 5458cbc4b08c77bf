//! The server's pages, in the newsletter's one look (`compose::look`):
//! small, usable without JavaScript, every value escaped by maud, and
//! each with a way on (sign up, the archive). Forms post to the page's
//! own address (no `action`), so they work behind a proxy at any path.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use crate::compose::look::{self, Ways};
use crate::input::config::Topic;
use crate::input::email::Email;

/// What every page needs to know of the newsletter.
pub struct Pages {
    pub newsletter: String,
    /// The sign-up page (`{public_url}/subscribe`; `GET /` shows it too):
    /// links are absolute, so they work behind a proxy at any path.
    pub signup: String,
    /// The archive's index (`{public_url}/archive/`).
    pub archive_url: String,
    /// The archive's folder, served under `/archive/` (linked once it has
    /// an index).
    pub archive: Option<std::path::PathBuf>,
    /// The topics the sign-up form offers.
    pub topics: Vec<Topic>,
}

impl Pages {
    /// Whether the archive has an index to link to.
    fn has_archive(&self) -> bool {
        self.archive
            .as_ref()
            .is_some_and(|dir| dir.join("index.html").is_file())
    }

    /// "Read the issues so far", when there are any.
    fn issues_so_far(&self) -> Markup {
        html! {
            @if self.has_archive() {
                p { a href=(self.archive_url) { "Read the issues so far" } "." }
            }
        }
    }

    fn ways(&self, signup: bool) -> Ways<'_> {
        Ways {
            signup: signup.then_some(self.signup.as_str()),
            archive: self.has_archive().then_some(self.archive_url.as_str()),
        }
    }

    /// A whole page with its status code; `signup` offers the sign-up
    /// page at its foot.
    fn page(&self, status: StatusCode, title: &str, signup: bool, body: Markup) -> Response {
        let markup = look::page(
            &look::Page {
                newsletter: &self.newsletter,
                title,
                head: html! {},
                index: false,
                ways: self.ways(signup),
                lang: "en",
            },
            body,
        );
        (status, Html(markup.into_string())).into_response()
    }

    /// A page that says what went wrong, and where to go from here.
    pub fn problem(&self, status: StatusCode, what: &str) -> Response {
        self.page(
            status,
            "Something is not right",
            true,
            html! { p { (what) } },
        )
    }

    pub fn not_found(&self) -> Response {
        self.page(
            StatusCode::NOT_FOUND,
            "There is no page here",
            true,
            html! { p { "The address may be mistyped, or the page has moved." } },
        )
    }

    /// The sign-up form, for the sign-up page (posting to its own
    /// address) and for the page of a stale link (posting to the sign-up
    /// page's).
    fn signup_fields(&self, elsewhere: bool) -> Markup {
        html! {
            form method="post" action=[elsewhere.then_some(self.signup.as_str())] {
                label for="email" { "Email address" }
                input type="email" id="email" name="email" required autocomplete="email";
                label for="name" { "Name (optional)" }
                input type="text" id="name" name="name" autocomplete="name" maxlength="100";
                (self.topic_boxes(|_| false))
                // The honeypot: hidden from people (off screen, out of the
                // tab order, hidden from screen readers), filled by bots
                // that fill every field.
                div class="hp" aria-hidden="true" {
                    label for="website" { "Leave this empty" }
                    input type="text" id="website" name="website" tabindex="-1" autocomplete="off";
                }
                button type="submit" { "Subscribe" }
            }
            p class="muted" { small { "We will send you a mail with a link to confirm." } }
        }
    }

    fn topic_boxes(&self, ticked: impl Fn(&str) -> bool) -> Markup {
        html! {
            @if !self.topics.is_empty() {
                fieldset class="topics" {
                    legend { "What would you like to get?" }
                    @for topic in &self.topics {
                        label class="topic" {
                            input type="checkbox" name={ "topic-" (topic.tag) } value="yes"
                                checked[ticked(&topic.tag)];
                            " " (topic.label)
                        }
                    }
                }
            }
        }
    }

    pub fn subscribe_form(&self) -> Response {
        self.page(
            StatusCode::OK,
            "Subscribe",
            false,
            self.signup_fields(false),
        )
    }

    /// The confirm page: the name and topics the sign-up's form gave, in
    /// fields the reader can correct before confirming.
    pub fn confirm_form(&self, email: &Email, name: Option<&str>, chosen: &str) -> Response {
        self.page(
            StatusCode::OK,
            "Confirm your subscription",
            false,
            html! {
                p { "Check your details, then press the button to subscribe " (email.as_str()) "." }
                form method="post" {
                    label for="name" { "Name (optional)" }
                    input type="text" id="name" name="name" autocomplete="name" maxlength="100"
                        value=(name.unwrap_or(""));
                    (self.topic_boxes(|t| chosen.split(';').any(|c| c == t)))
                    button type="submit" { "Confirm" }
                }
            },
        )
    }

    pub fn check_inbox(&self) -> Response {
        self.page(
            StatusCode::OK,
            "Check your inbox",
            false,
            html! {
                p { "If the address is right, a mail with a confirmation link is on its way. Open it and press “Confirm” to subscribe." }
                p class="muted" { "Nothing there after a few minutes? Look in the spam folder, or sign up again." }
            },
        )
    }

    pub fn subscribed(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            "You are subscribed",
            false,
            html! {
                p { (email.as_str()) " will get the next issue." }
                @if self.has_archive() {
                    p { "Until then, " a href=(self.archive_url) { "read the issues so far" } "." }
                }
            },
        )
    }

    /// A confirm link that was used, expired or overtaken. A reader who is
    /// subscribed is told so; anyone else gets the sign-up form.
    pub fn stale_confirm(&self, status: StatusCode, subscribed: bool, why: &str) -> Response {
        if subscribed {
            return self.page(
                status,
                "You are subscribed already",
                false,
                html! {
                    p { "This confirmation link was used before: you are on the list, and nothing more is needed." }
                    (self.issues_so_far())
                },
            );
        }
        self.page(
            status,
            "This link no longer works",
            false,
            html! {
                p { (why) " Sign up again below for a fresh link." }
                (self.signup_fields(true))
            },
        )
    }

    /// The unsubscribe page: one button that posts what RFC 8058's
    /// one-click POST sends.
    pub fn unsubscribe_form(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            "Unsubscribe",
            false,
            html! {
                p { "Press the button to stop " (self.newsletter) " for " (email.as_str()) "." }
                form method="post" {
                    input type="hidden" name="List-Unsubscribe" value="One-Click";
                    button type="submit" { "Unsubscribe" }
                }
            },
        )
    }

    /// "You are unsubscribed", with "Undo" when `undo` gives the form's
    /// action and its sealed token.
    pub fn unsubscribed(&self, email: &Email, undo: Option<(&str, &str)>) -> Response {
        self.page(
            StatusCode::OK,
            "You are unsubscribed",
            undo.is_none(),
            html! {
                p { (email.as_str()) " will get no more mail from " (self.newsletter) "." }
                @if let Some((action, token)) = undo {
                    form method="post" action=(action) {
                        input type="hidden" name="undo" value=(token);
                        p { "Pressed by mistake? You can undo it today." }
                        button type="submit" { "Undo: keep me subscribed" }
                    }
                }
            },
        )
    }

    pub fn resubscribed(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            "You are subscribed again",
            false,
            html! {
                p { (email.as_str()) " will get the next issue of " (self.newsletter) ", as before." }
                (self.issues_so_far())
            },
        )
    }

    /// An undo that came too late, was used, or came after a later change.
    /// The same page whatever the reader's status (it tells nobody whether
    /// the address is on the list).
    pub fn undo_stale(&self) -> Response {
        self.page(
            StatusCode::GONE,
            "This can no longer be undone",
            false,
            html! {
                p { "The unsubscribe is more than a day old, was undone already, or something changed since. If you do not get the newsletter and want it, sign up below." }
                (self.signup_fields(true))
            },
        )
    }
}
