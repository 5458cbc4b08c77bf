//! The server's pages: small, usable without JavaScript, every value
//! escaped by maud. Forms post to the page's own address (no `action`), so
//! they work behind a proxy at any path.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

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
                style {
                    "body{font-family:Georgia,serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.5}"
                    "label{display:block;margin:.8em 0 .2em}"
                    "input[type=email],input[type=text]{width:100%;padding:.4em;font-size:1em}"
                    "button{margin-top:1em;padding:.5em 1.2em;font-size:1em}"
                    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}"
                }
            }
            body {
                p { small { (newsletter) } }
                h1 { (title) }
                (body)
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
pub fn subscribe_form(newsletter: &str) -> Response {
    page(
        StatusCode::OK,
        newsletter,
        "Subscribe",
        html! {
            form method="post" {
                label for="email" { "Email address" }
                input type="email" id="email" name="email" required autocomplete="email";
                label for="name" { "Name (optional)" }
                input type="text" id="name" name="name" autocomplete="name";
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
