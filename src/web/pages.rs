//! The server's pages: small, usable without JavaScript, every value
//! escaped by maud. Forms post to the page's own address (no `action`), so
//! they work behind a proxy at any path.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// The pages look like the newsletter: its palette and type (those of
/// the email's HTML part), on any width down to a 360 px phone (borders
/// and padding inside the width, nothing wider than the screen), with a
/// focus ring that shows where the keyboard is.
const STYLE: &str = concat!(
    "*,*::before,*::after{box-sizing:border-box}",
    "html{-webkit-text-size-adjust:100%}",
    "body{font-family:Georgia,'Times New Roman',serif;max-width:36em;margin:2em auto;padding:0 1em;",
    "line-height:1.5;color:#1d1d1b;background:#f2f2ef;overflow-wrap:anywhere}",
    "main{background:#fff;padding:1em 1.25em 1.5em;border-top:4px solid #1d3557}",
    "h1{color:#1d3557;font-size:1.6em;line-height:1.2;margin:.2em 0 .6em}",
    ".masthead{margin:0 0 .5em;font-size:.9em;letter-spacing:.08em;text-transform:uppercase;color:#a4161a}",
    "a{color:#1d4e89}",
    "label{display:block;margin:.8em 0 .2em}",
    "fieldset{border:1px solid #dcdcd6;margin:1em 0 0;padding:.4em .8em .8em}",
    ".topic{margin:.3em 0}",
    "input[type=email],input[type=text]{display:block;width:100%;max-width:100%;padding:.5em;",
    "font:inherit;border:1px solid #8a8a84;border-radius:3px}",
    "button{margin-top:1em;padding:.6em 1.4em;font:inherit;color:#fff;background:#1d3557;",
    "border:0;border-radius:3px;cursor:pointer}",
    ":focus-visible{outline:3px solid #a4161a;outline-offset:2px}",
    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}",
    "@media (prefers-color-scheme:dark){body{background:#121212;color:#e6e6e3}",
    "main{background:#1e1e1e}h1{color:#9cc3f0}a{color:#8ab4f8}}",
);

/// A whole page with its status code.
pub fn page(status: StatusCode, newsletter: &str, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · " (newsletter) }
                style { (STYLE) }
            }
            body {
                main {
                    p class="masthead" { (newsletter) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A page that says what went wrong.
pub fn problem(status: StatusCode, newsletter: &str, what: &str) -> Response {
    page(
        status,
        newsletter,
        "Something is not right",
        html! { p { (what) } },
    )
}

/// The sign-up form. `website` is the honeypot: hidden from people (off
/// screen, out of the tab order, hidden from screen readers), filled by
/// bots that fill every field.
pub fn subscribe_form(newsletter: &str, topics: &[String]) -> Response {
    page(
        StatusCode::OK,
        newsletter,
        "Subscribe",
        html! {
            form method="post" {
                label for="email" { "Email address" }
                input type="email" id="email" name="email" required autocomplete="email";
                label for="name" { "Name (optional)" }
                input type="text" id="name" name="name" autocomplete="name" maxlength="100";
                @if !topics.is_empty() {
                    fieldset class="topics" {
                        legend { "What would you like to get?" }
                        @for topic in topics {
                            label class="topic" {
                                input type="checkbox" name={ "topic-" (topic) } value="yes";
                                " " (topic)
                            }
                        }
                    }
                }
                div class="hp" aria-hidden="true" {
                    label for="website" { "Leave this empty" }
                    input type="text" id="website" name="website" tabindex="-1" autocomplete="off";
                }
                button type="submit" { "Subscribe" }
            }
            p { small { "We will send you a mail with a link to confirm." } }
        },
    )
}

/// The confirm page: the name and topics the sign-up's form gave, in
/// fields the reader can correct before confirming.
pub fn confirm_form(
    newsletter: &str,
    email: &crate::input::email::Email,
    name: Option<&str>,
    topics: &[String],
    chosen: &str,
) -> Response {
    let ticked = |t: &str| chosen.split(';').any(|c| c == t);
    page(
        StatusCode::OK,
        newsletter,
        "Confirm your subscription",
        html! {
            p { "Check your details, then press the button to subscribe " (email.as_str()) "." }
            form method="post" {
                label for="name" { "Name (optional)" }
                input type="text" id="name" name="name" autocomplete="name" maxlength="100"
                    value=(name.unwrap_or(""));
                @if !topics.is_empty() {
                    fieldset class="topics" {
                        legend { "What would you like to get?" }
                        @for topic in topics {
                            label class="topic" {
                                input type="checkbox" name={ "topic-" (topic) } value="yes"
                                    checked[ticked(topic)];
                                " " (topic)
                            }
                        }
                    }
                }
                button type="submit" { "Confirm" }
            }
        },
    )
}

pub fn check_inbox(newsletter: &str) -> Response {
    page(
        StatusCode::OK,
        newsletter,
        "Check your inbox",
        html! {
            p { "If the address is right, a mail with a confirmation link is on its way. Open it and press “Confirm” to subscribe." }
        },
    )
}

/// A page with one button that posts to the page's own address, with
/// `hidden` as a form field (the unsubscribe page sends what RFC 8058's
/// one-click POST sends).
pub fn one_button(
    newsletter: &str,
    title: &str,
    text: &str,
    button: &str,
    hidden: Option<(&str, &str)>,
) -> Response {
    page(
        StatusCode::OK,
        newsletter,
        title,
        html! {
            p { (text) }
            form method="post" {
                @if let Some((name, value)) = hidden {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" { (button) }
            }
        },
    )
}

pub fn done(newsletter: &str, title: &str, text: &str) -> Response {
    page(StatusCode::OK, newsletter, title, html! { p { (text) } })
}
