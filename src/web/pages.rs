//! The server's pages, in the newsletter's one look (`compose::look`):
//! small, usable without JavaScript, every value escaped by maud, and
//! each with a way on (sign up, the archive). Forms post to the page's
//! own address (no `action`), so they work behind a proxy at any path.
//! Every page is in the language `tongue` picked for the request; each
//! form carries it on (a hidden `lang` field).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use super::tongue::{Tongue, Tongues};
use crate::compose::look::{self, Ways};
use crate::input::config::Topic;
use crate::input::email::Email;
use crate::input::words::serve::{Say, sentences};

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
    /// The languages the pages speak.
    pub tongues: Tongues,
}

impl Pages {
    /// The pages in `tongue`.
    pub fn talk<'a>(&'a self, tongue: Tongue<'a>) -> Talk<'a> {
        Talk {
            pages: self,
            tongue,
        }
    }
}

/// The pages in one language.
#[derive(Clone, Copy)]
pub struct Talk<'a> {
    pages: &'a Pages,
    pub tongue: Tongue<'a>,
}

impl Talk<'_> {
    fn say(&self, say: Say) -> &str {
        self.tongue.words.say(say)
    }

    /// `say` with the reader's address and the newsletter's name in it.
    fn say_to(&self, say: Say, email: &Email) -> String {
        self.tongue.words.say_with(
            say,
            &[
                ("email", email.as_str()),
                ("name", self.pages.newsletter.as_str()),
            ],
        )
    }

    /// The hidden field that carries the page's language to its form's
    /// answer.
    fn lang_field(&self) -> Markup {
        html! { input type="hidden" name="lang" value=(self.tongue.lang); }
    }

    /// The language a confirmation records, shown as a choice: the link
    /// that opened the page (anyone may have made the sign-up) chose the
    /// one selected, and the reader may change it.
    fn lang_choice(&self) -> Markup {
        html! {
            label for="lang" { (self.say(Say::LangLabel)) }
            select id="lang" name="lang" {
                @for (lang, name) in self.pages.tongues.offered() {
                    option value=(lang) lang=(lang) selected[lang == self.tongue.lang] { (name) }
                }
            }
        }
    }

    /// Whether the archive has an index to link to.
    fn has_archive(&self) -> bool {
        self.pages
            .archive
            .as_ref()
            .is_some_and(|dir| dir.join("index.html").is_file())
    }

    /// "Read the issues so far", when there are any.
    fn issues_so_far(&self) -> Markup {
        html! {
            @if self.has_archive() {
                p { a href=(self.pages.archive_url) { (self.say(Say::IssuesSoFar)) } }
            }
        }
    }

    fn ways(&self, signup: bool) -> Ways<'_> {
        Ways {
            signup: signup.then_some(self.pages.signup.as_str()),
            archive: self
                .has_archive()
                .then_some(self.pages.archive_url.as_str()),
        }
    }

    /// A whole page with its status code; `signup` offers the sign-up
    /// page at its foot.
    fn page(&self, status: StatusCode, title: Say, signup: bool, body: Markup) -> Response {
        let markup = look::page(
            &look::Page {
                newsletter: &self.pages.newsletter,
                title: self.say(title),
                head: html! {},
                index: false,
                ways: self.ways(signup),
                lang: self.tongue.label.as_str(),
                words: self.tongue.words,
            },
            body,
        );
        (status, Html(markup.into_string())).into_response()
    }

    /// A page that says what went wrong, and where to go from here.
    pub fn problem(&self, status: StatusCode, what: Say) -> Response {
        self.page(
            status,
            Say::ProblemTitle,
            true,
            html! { p { (self.say(what)) } },
        )
    }

    pub fn not_found(&self) -> Response {
        self.page(
            StatusCode::NOT_FOUND,
            Say::NotFoundTitle,
            true,
            html! { p { (self.say(Say::NotFound)) } },
        )
    }

    /// The sign-up form, for the sign-up page (posting to its own
    /// address) and for the page of a stale link (posting to the sign-up
    /// page's).
    fn signup_fields(&self, elsewhere: bool) -> Markup {
        html! {
            form method="post" action=[elsewhere.then_some(self.pages.signup.as_str())] {
                (self.lang_field())
                label for="email" { (self.say(Say::EmailLabel)) }
                input type="email" id="email" name="email" required autocomplete="email";
                label for="name" { (self.say(Say::NameLabel)) }
                input type="text" id="name" name="name" autocomplete="name" maxlength="100";
                (self.topic_boxes(|_| false))
                // The honeypot: hidden from people (off screen, out of the
                // tab order, hidden from screen readers), filled by bots
                // that fill every field.
                div class="hp" aria-hidden="true" {
                    label for="website" { (self.say(Say::LeaveEmpty)) }
                    input type="text" id="website" name="website" tabindex="-1" autocomplete="off";
                }
                button type="submit" { (self.say(Say::SubscribeButton)) }
            }
            p class="muted" { small { (self.say(Say::SignupNote)) } }
        }
    }

    fn topic_boxes(&self, ticked: impl Fn(&str) -> bool) -> Markup {
        html! {
            @if !self.pages.topics.is_empty() {
                fieldset class="topics" {
                    legend { (self.say(Say::TopicsLegend)) }
                    @for topic in &self.pages.topics {
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
            Say::SubscribeTitle,
            false,
            self.signup_fields(false),
        )
    }

    /// The confirm page: the name and topics the sign-up's form gave, in
    /// fields the reader can correct before confirming.
    pub fn confirm_form(&self, email: &Email, name: Option<&str>, chosen: &str) -> Response {
        self.page(
            StatusCode::OK,
            Say::ConfirmTitle,
            false,
            html! {
                p { (self.say_to(Say::ConfirmDetails, email)) }
                form method="post" {
                    label for="name" { (self.say(Say::NameLabel)) }
                    input type="text" id="name" name="name" autocomplete="name" maxlength="100"
                        value=(name.unwrap_or(""));
                    (self.lang_choice())
                    (self.topic_boxes(|t| chosen.split(';').any(|c| c == t)))
                    button type="submit" { (self.say(Say::ConfirmButton)) }
                }
            },
        )
    }

    pub fn check_inbox(&self) -> Response {
        self.page(
            StatusCode::OK,
            Say::InboxTitle,
            false,
            html! {
                p { (self.say(Say::InboxSent)) }
                p class="muted" { (self.say(Say::InboxNothing)) }
            },
        )
    }

    pub fn subscribed(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            Say::SubscribedTitle,
            false,
            html! {
                p { (self.say_to(Say::Subscribed, email)) }
                (self.issues_so_far())
            },
        )
    }

    /// A confirm link that was used, expired or overtaken. A reader who is
    /// subscribed is told so; anyone else gets the sign-up form.
    pub fn stale_confirm(&self, status: StatusCode, subscribed: bool, why: Say) -> Response {
        if subscribed {
            return self.page(
                status,
                Say::AlreadyTitle,
                false,
                html! {
                    p { (self.say(Say::Already)) }
                    (self.issues_so_far())
                },
            );
        }
        self.page(
            status,
            Say::StaleTitle,
            false,
            html! {
                p { (sentences(self.say(why), self.say(Say::SignUpAgain))) }
                (self.signup_fields(true))
            },
        )
    }

    /// The unsubscribe page: one button that posts what RFC 8058's
    /// one-click POST sends.
    pub fn unsubscribe_form(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            Say::UnsubscribeTitle,
            false,
            html! {
                p { (self.say_to(Say::UnsubscribePress, email)) }
                form method="post" {
                    input type="hidden" name="List-Unsubscribe" value="One-Click";
                    (self.lang_field())
                    button type="submit" { (self.say(Say::UnsubscribeButton)) }
                }
            },
        )
    }

    /// "You are unsubscribed", with "Undo" when `undo` gives the form's
    /// action and its sealed token.
    pub fn unsubscribed(&self, email: &Email, undo: Option<(&str, &str)>) -> Response {
        self.page(
            StatusCode::OK,
            Say::UnsubscribedTitle,
            undo.is_none(),
            html! {
                p { (self.say_to(Say::Unsubscribed, email)) }
                @if let Some((action, token)) = undo {
                    form method="post" action=(action) {
                        input type="hidden" name="undo" value=(token);
                        (self.lang_field())
                        p { (self.say(Say::UndoOffer)) }
                        button type="submit" { (self.say(Say::UndoButton)) }
                    }
                }
            },
        )
    }

    pub fn resubscribed(&self, email: &Email) -> Response {
        self.page(
            StatusCode::OK,
            Say::ResubscribedTitle,
            false,
            html! {
                p { (self.say_to(Say::Resubscribed, email)) }
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
            Say::UndoStaleTitle,
            false,
            html! {
                p { (self.say(Say::UndoStale)) }
                (self.signup_fields(true))
            },
        )
    }
}
