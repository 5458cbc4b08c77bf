//! The pages a reader's links open: the confirm link of a sign-up and the
//! unsubscribe link of every issue (with "Undo" for a day). A GET never
//! changes anything (scanners open links); each POST asks the list's
//! writer, and every answer has a way on. Each page speaks the language
//! its link or form names (`?lang=`, a form's `lang`), else the browser's.

use std::time::SystemTime;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::limit::client_ip;
use super::pages::Talk;
use super::{App, Change, Outcome, Shared, list_error};
use crate::audience::unsubscribe::TokenError;
use crate::input::checked::Line;
use crate::input::email::Email;
use crate::input::words::serve::Say;

/// How long "Undo" is offered after an unsubscribe, in seconds.
pub const UNDO_FOR: u32 = 86_400;

fn now() -> SystemTime {
    crate::now().unwrap_or_else(|_| SystemTime::now())
}

/// A confirm token's address and sign-up time; an expired one's address.
enum Confirm {
    Live(Email, u32),
    Expired(Email),
    Invalid,
}

fn confirm_token(app: &App, token: &str) -> Confirm {
    match app.tokens.verify_confirm(token, now(), app.expiry) {
        Ok((email, secs)) => Confirm::Live(email, u32::try_from(secs).unwrap_or(u32::MAX)),
        Err(TokenError::Expired(email)) => Confirm::Expired(email),
        Err(TokenError::Invalid) => Confirm::Invalid,
    }
}

/// Whether `email` is subscribed now (the writer's view of the list).
async fn subscribed(app: &App, email: &Email) -> Result<bool, String> {
    match app
        .list
        .ask(Change::Look {
            email: email.clone(),
        })
        .await?
    {
        Outcome::Standing { subscribed } => Ok(subscribed),
        _ => Ok(false),
    }
}

/// A stale confirm link's page: "subscribed already", or the sign-up form.
async fn stale(app: &App, talk: &Talk<'_>, email: &Email, why: Say) -> Response {
    match subscribed(app, email).await {
        Ok(is) => talk.stale_confirm(StatusCode::GONE, is, why),
        Err(e) => list_error(talk, &e),
    }
}

/// The confirm page: what the sign-up's form said (anyone may have typed
/// it), in fields the reader can correct; what they submit is what their
/// confirmation records. A reader subscribed already is told so.
pub async fn confirm_page(
    State(app): Shared,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let talk = app.talk_query(query.as_deref(), &headers);
    let (email, signed_up) = match confirm_token(&app, &token) {
        Confirm::Live(email, at) => (email, at),
        Confirm::Expired(email) => return stale(&app, &talk, &email, Say::ConfirmExpired).await,
        Confirm::Invalid => return talk.problem(StatusCode::BAD_REQUEST, Say::ConfirmInvalid),
    };
    match subscribed(&app, &email).await {
        Ok(true) => return talk.stale_confirm(StatusCode::GONE, true, Say::ConfirmUsed),
        Ok(false) => {}
        Err(e) => return list_error(&talk, &e),
    }
    let proposal = app.list.proposal(&email, signed_up);
    talk.confirm_form(
        &email,
        proposal
            .as_ref()
            .and_then(|p| p.name.as_ref().map(Line::as_str)),
        proposal.as_ref().map_or("", |p| p.tags.as_str()),
    )
}

pub async fn confirm(
    State(app): Shared,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let early = app.talk_query(query.as_deref(), &headers);
    let (email, signed_up) = match confirm_token(&app, &token) {
        Confirm::Live(email, at) => (email, at),
        Confirm::Expired(email) => return stale(&app, &early, &email, Say::ConfirmExpired).await,
        Confirm::Invalid => return early.problem(StatusCode::BAD_REQUEST, Say::ConfirmInvalid),
    };
    let (form, talk) = match app.read_form(request, &headers, early).await {
        Ok(read) => read,
        Err(page) => return *page,
    };
    let name = match form.name() {
        Ok(name) => name,
        Err(e) => return talk.problem(e.status, e.what),
    };
    let asked = app
        .list
        .ask(Change::Confirm {
            email: email.clone(),
            signed_up,
            name,
            tags: form.topics(&app.pages.topics),
            lang: app.reader_lang(&talk),
        })
        .await;
    match asked {
        // A confirmed sign-up: its welcome (queued in the ledger by the
        // writer) goes now; a full queue loses nothing, a restart mails it.
        Ok(Outcome::NowSubscribed) => {
            super::log_change("confirmed:", &email);
            app.mailer.welcome(email.clone());
            talk.subscribed(&email)
        }
        // Used before, or overtaken by a later unsubscribe, complaint or
        // bounce: the link changes nothing now.
        Ok(Outcome::StaleLink { subscribed }) => {
            talk.stale_confirm(StatusCode::GONE, subscribed, Say::ConfirmUsed)
        }
        Ok(_) => talk.subscribed(&email),
        Err(e) => list_error(&talk, &e),
    }
}

/// The address an unsubscribe token names, or the page that says the
/// link is not valid.
fn unsubscribe_token(app: &App, talk: &Talk<'_>, token: &str) -> Result<Email, Box<Response>> {
    app.tokens
        .verify(token)
        .ok_or_else(|| Box::new(talk.problem(StatusCode::BAD_REQUEST, Say::UnsubscribeInvalid)))
}

pub async fn unsubscribe_page(
    State(app): Shared,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let talk = app.talk_query(query.as_deref(), &headers);
    match unsubscribe_token(&app, &talk, &token) {
        Ok(email) => talk.unsubscribe_form(&email),
        Err(page) => *page,
    }
}

/// RFC 8058 one-click: the body is `List-Unsubscribe=One-Click`
/// (urlencoded or multipart), with no cookies; the answer is a page, never
/// a redirect. The token alone decides; unsubscribing twice is fine. The
/// page offers "Undo" for the unsubscribe this press made, of a reader
/// who was being mailed (not for one made before, which may be the
/// editor's on the reader's word, nor over a sign-up that never was
/// confirmed).
pub async fn unsubscribe(
    State(app): Shared,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let early = app.talk_query(query.as_deref(), &headers);
    let email = match unsubscribe_token(&app, &early, &token) {
        Ok(email) => email,
        Err(page) => return *page,
    };
    let (_, talk) = match app.read_form(request, &headers, early).await {
        Ok(read) => read,
        Err(page) => return *page,
    };
    let undo = match app
        .list
        .ask(Change::Unsubscribe {
            email: email.clone(),
        })
        .await
    {
        Ok(Outcome::NowUnsubscribed { at, undoable: true }) => app.tokens.undo_token(&email, at),
        Ok(_) => None,
        Err(e) => return list_error(&talk, &e),
    };
    // The form posts beside this page's own address, behind any proxy.
    let action = format!("{token}/undo");
    talk.unsubscribed(&email, undo.as_deref().map(|undo| (action.as_str(), undo)))
}

/// "Undo" on the unsubscribed page: the same unsubscribe token, and the
/// undo token that page sealed (the address and the unsubscribe's time).
/// Subscribes again only within a day, while that unsubscribe is the
/// reader's last change. Any other case gets one neutral page, whatever
/// the reader's status. Limited per client like sign-ups.
pub async fn undo(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let early = app.talk_query(query.as_deref(), &headers);
    let ip = client_ip(peer.ip(), &headers, &app.trusted_proxy);
    if !app.limiter.allow(ip) {
        return early.problem(StatusCode::TOO_MANY_REQUESTS, Say::TooManyRequests);
    }
    let email = match unsubscribe_token(&app, &early, &token) {
        Ok(email) => email,
        Err(page) => return *page,
    };
    let (form, talk) = match app.read_form(request, &headers, early).await {
        Ok(read) => read,
        Err(page) => return *page,
    };
    let Some((sealed_for, at)) = app.tokens.verify_undo(form.get("undo")) else {
        return talk.undo_stale();
    };
    let now = crate::audience::consent::secs(now());
    if sealed_for.fingerprint() != email.fingerprint() || now.saturating_sub(at) > UNDO_FOR {
        return talk.undo_stale();
    }
    match app
        .list
        .ask(Change::Undo {
            email: email.clone(),
            unsubscribed_at: at,
        })
        .await
    {
        Ok(Outcome::Resubscribed) => {
            super::log_change("undid an unsubscribe, subscribed again:", &email);
            talk.resubscribed(&email)
        }
        Ok(_) => talk.undo_stale(),
        Err(e) => list_error(&talk, &e),
    }
}
