//! `bulletin serve`: the way back from the reader. One-click unsubscribe
//! (RFC 8058) at the links every issue carries, and double opt-in
//! sign-ups, on a small HTTP server (axum) meant to sit behind the
//! editor's reverse proxy, which terminates TLS.
//!
//! Uses `input`, `audience` (the list, tokens), `compose` (the
//! confirmation mail) and `deliver` (its SMTP connection).

mod archive;
mod books;
mod forms;
mod limit;
mod listen;
mod mailer;
mod pages;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::audience::unsubscribe::{TokenError, Unsubscriber};
use crate::compose::dkim::Signer;
use crate::deliver::smtp::Server;
use crate::input::checked::Line;
use crate::input::config::{Newsletter, Serve};
use crate::input::email::Email;
use limit::{Limiter, client_ip};
use mailer::{Mail, Mailer, MailerSetup};
use writer::{ListWriter, Outcome, Request as Change};

/// Everything a request needs.
struct App {
    newsletter: Newsletter,
    tokens: Arc<Unsubscriber>,
    /// How long a request's body may take to arrive.
    request_timeout: Duration,
    /// The web archive's folder, served under `/archive/`.
    archive: Option<std::path::PathBuf>,
    /// The topics the sign-up form offers.
    topics: Vec<String>,
    expiry: Duration,
    trusted_proxy: Vec<crate::input::config::Cidr>,
    list: ListWriter,
    mailer: Mailer,
    limiter: Limiter,
}

type Shared = State<Arc<App>>;

impl App {
    fn name(&self) -> &str {
        self.newsletter.name.as_str()
    }

    fn problem(&self, status: StatusCode, what: &str) -> Response {
        pages::problem(status, self.name(), what)
    }

    /// 503 with `Retry-After`: the change was not made (the list was
    /// busy past its bound, or could not be written), and the client is
    /// told so, never a 200.
    fn list_error(&self, e: &str) -> Response {
        eprintln!("{e}");
        busy(self.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "The list cannot be changed just now. Please try again in a minute.",
        ))
    }
}

/// Seconds a client is asked to wait before trying again.
const RETRY_AFTER: &str = "30";

fn busy(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static(RETRY_AFTER),
    );
    response
}

/// What `serve` runs on.
pub struct Setup {
    pub newsletter: Newsletter,
    pub serve: Serve,
    pub listen: SocketAddr,
    pub tokens: Unsubscriber,
    pub smtp: Server,
    pub dkim: Option<Signer>,
    /// The folder `bulletin archive` writes, when `[archive]` is set.
    pub archive: Option<std::path::PathBuf>,
    /// `[serve] welcome`: the issue ready to fill in.
    pub welcome: Option<crate::compose::message::Template>,
    /// The first relay's daily limit, which serve's mail counts toward.
    pub quota: Option<crate::deliver::fleet::Quota>,
    /// Where the welcome ledger was kept before it moved beside the list
    /// (`logs/welcome.csv`): moved on start.
    pub old_welcome_ledger: std::path::PathBuf,
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(setup: Setup) -> anyhow::Result<()> {
    let list_path = setup.newsletter.subscribers.clone();
    if crate::audience::ledger::adopt(&list_path, &setup.old_welcome_ledger).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot be moved beside the list: {e}",
            setup.old_welcome_ledger.display()
        )
    })? {
        println!(
            "bulletin serve: moved the welcome ledger from {} to {}",
            setup.old_welcome_ledger.display(),
            crate::audience::ledger::path(&list_path, crate::audience::ledger::Kind::Welcome)
                .display()
        );
    }
    let books = Arc::new(std::sync::Mutex::new(books::Books::read(&list_path)?));
    let welcomes = setup.welcome.as_ref().map(|_| books.clone());
    let (list, readers) =
        ListWriter::start(&list_path, setup.serve.confirm_expiry, welcomes.clone())?;
    // The outbox: live sign-ups whose confirmation has not gone (a
    // restart, a relay that was down).
    let outbox = {
        let books = books.lock().unwrap_or_else(|e| e.into_inner());
        crate::audience::outbox::waiting(
            &list_path,
            &books.confirmations,
            setup.serve.confirm_expiry,
            crate::now()?,
        )?
    };
    if !outbox.is_empty() {
        println!(
            "bulletin serve: {} sign-ups still want their confirmation; mailing them",
            outbox.len()
        );
    }
    let mut owed: Vec<Mail> = outbox.into_iter().map(Mail::Confirm).collect();
    if let Some(books) = &welcomes {
        let queued = books
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .welcomes
            .owed();
        if !queued.is_empty() {
            println!(
                "bulletin serve: {} welcome(s) still owed; mailing them",
                queued.len()
            );
        }
        owed.extend(
            queued
                .iter()
                .filter_map(|e| Email::parse(e).ok())
                .map(Mail::Welcome),
        );
    }
    let tokens = Arc::new(setup.tokens);
    let listener = tokio::net::TcpListener::bind(setup.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", setup.listen))?;
    let bound = listener.local_addr()?;
    let mailer = Mailer::start(
        MailerSetup {
            newsletter: setup.newsletter.clone(),
            server: setup.smtp,
            dkim: setup.dkim,
            tokens: tokens.clone(),
            public_url: setup.serve.public_url.clone(),
            list: list_path.clone(),
            resend_after: setup.serve.confirm_resend_after,
            retry_for: setup.serve.confirm_retry_for,
            welcome: setup.welcome,
            quota: setup.quota,
            books,
            writer: list.clone(),
        },
        owed,
    );
    let app = Arc::new(App {
        mailer,
        newsletter: setup.newsletter,
        tokens,
        request_timeout: setup.serve.request_timeout,
        archive: setup.archive,
        topics: setup.serve.topics.clone(),
        expiry: setup.serve.confirm_expiry,
        trusted_proxy: setup.serve.trusted_proxy,
        list,
        limiter: Limiter::new(setup.serve.subscribe_limit_per_minute),
    });
    println!(
        "bulletin serve: listening on http://{bound} for {} ({}: {readers} readers)",
        setup.serve.public_url,
        list_path.display()
    );
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/archive",
            get(|| async { axum::response::Redirect::permanent("/archive/") }),
        )
        .route("/archive/", get(archive_index))
        .route("/archive/{*path}", get(archive_file))
        .route("/subscribe", get(subscribe_page).post(subscribe))
        .route("/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .fallback(not_found)
        .with_state(app);
    let bounds = listen::Bounds {
        max_connections: setup.serve.max_connections,
        header_timeout: setup.serve.request_timeout,
    };
    listen::serve(listener, router, bounds, shutdown()).await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (systemd's stop): requests under way
/// finish, and so does the list writer's batch.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

async fn archive_index(State(app): Shared, headers: HeaderMap) -> Response {
    archive_at(&app, "", &headers).await
}

async fn archive_file(
    State(app): Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    archive_at(&app, &path, &headers).await
}

async fn archive_at(app: &App, rel: &str, headers: &HeaderMap) -> Response {
    let missing = app.problem(StatusCode::NOT_FOUND, "There is no page here.");
    match &app.archive {
        Some(dir) => archive::get(dir, rel, headers, missing).await,
        None => missing,
    }
}

async fn not_found(State(app): Shared) -> Response {
    app.problem(StatusCode::NOT_FOUND, "There is no page here.")
}

async fn subscribe_page(State(app): Shared) -> Response {
    pages::subscribe_form(app.name(), &app.topics)
}

async fn subscribe(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let ip = client_ip(peer.ip(), &headers, &app.trusted_proxy);
    if !app.limiter.allow(ip) {
        return app.problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups from your address. Please wait a minute and try again.",
        );
    }
    let form = match forms::read(request, app.request_timeout).await {
        Ok(form) => form,
        Err(e) => return app.problem(e.status, e.what),
    };
    // A filled honeypot is a bot: it is told what a person is told, and
    // nothing happens.
    if !form.get("website").is_empty() {
        return pages::check_inbox(app.name());
    }
    let email = match Email::parse(form.get("email")) {
        Ok(email) => email,
        Err(_) => {
            return app.problem(
                StatusCode::BAD_REQUEST,
                "That is not an email address. Go back and check it.",
            );
        }
    };
    let name = match form.name() {
        Ok(name) => name,
        Err(e) => return app.problem(e.status, e.what),
    };
    let outcome = app
        .list
        .ask(Change::SignUp {
            email: email.clone(),
            name,
            tags: form.topics(&app.topics),
        })
        .await;
    match outcome {
        Ok(Outcome::NowPending { at } | Outcome::StillPending { at }) => {
            // The link names this sign-up (it works once, and only while
            // the sign-up is the address's latest). The mailer decides
            // whether a mail goes (one an hour at most).
            let queued = app.mailer.send(crate::audience::outbox::Waiting {
                email,
                signed_up: at,
            });
            if !queued {
                // The row is written; the outbox has it. Asked again, we
                // try again.
                return busy(app.problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many sign-ups just now. Please try again in a minute.",
                ));
            }
        }
        // Subscribed already, or bounced or complained: nothing is sent,
        // and the page says what it says to anyone.
        Ok(_) => {}
        Err(e) => return app.list_error(&e),
    }
    // The same answer whether or not the address was on the list.
    pages::check_inbox(app.name())
}

/// A refusal: the status and what the page says.
type Refusal = (StatusCode, &'static str);

fn confirm_token(app: &App, token: &str) -> Result<(Email, u32), Refusal> {
    let now = crate::now().unwrap_or_else(|_| std::time::SystemTime::now());
    app.tokens
        .verify_confirm(token, now, app.expiry)
        .map(|(email, secs)| (email, u32::try_from(secs).unwrap_or(u32::MAX)))
        .map_err(|e| match e {
            TokenError::Expired => (
                StatusCode::GONE,
                "This confirmation link has expired. Please sign up again for a new one.",
            ),
            TokenError::Invalid => (
                StatusCode::BAD_REQUEST,
                "This confirmation link is not valid. Check that it was copied whole.",
            ),
        })
}

/// The confirm page: what the sign-up's form said (anyone may have typed
/// it), in fields the reader can correct; what they submit is what their
/// confirmation records. Changes nothing (scanners open links).
async fn confirm_page(State(app): Shared, Path(token): Path<String>) -> Response {
    match confirm_token(&app, &token) {
        Ok((email, signed_up)) => {
            let proposal = app.list.proposal(&email, signed_up);
            pages::confirm_form(
                app.name(),
                &email,
                proposal
                    .as_ref()
                    .and_then(|p| p.name.as_ref().map(Line::as_str)),
                &app.topics,
                proposal.as_ref().map_or("", |p| p.tags.as_str()),
            )
        }
        Err((status, what)) => app.problem(status, what),
    }
}

/// A token's POST: the body read (within its limit), the token checked,
/// the change made by the list's writer, and the page that says so.
async fn token_post<T>(
    app: &App,
    request: Request,
    checked: Result<T, Refusal>,
    change: impl FnOnce(T, &forms::Form) -> Result<(Email, Change), Refusal>,
    title: &str,
    says: impl FnOnce(&Email) -> String,
) -> Response {
    let form = match forms::read(request, app.request_timeout).await {
        Ok(form) => form,
        Err(e) => return app.problem(e.status, e.what),
    };
    let (email, change) = match checked.and_then(|token| change(token, &form)) {
        Ok(change) => change,
        Err((status, what)) => return app.problem(status, what),
    };
    let asked = app.list.ask(change).await;
    // A confirmed sign-up: its welcome (queued in the ledger by the
    // writer) goes now; a full queue loses nothing, a restart mails it.
    if let Ok(Outcome::NowSubscribed) = asked {
        app.mailer.welcome(email.clone());
    }
    match asked {
        // Used before, or overtaken by a later unsubscribe, complaint or
        // bounce: the link changes nothing now.
        Ok(Outcome::StaleLink) => app.problem(
            StatusCode::GONE,
            "This link is no longer valid: it was used already, or the address changed since. If you confirmed before, you are subscribed; otherwise please sign up again.",
        ),
        Ok(_) => pages::done(app.name(), title, &says(&email)),
        Err(e) => app.list_error(&e),
    }
}

async fn confirm(State(app): Shared, Path(token): Path<String>, request: Request) -> Response {
    let checked = confirm_token(&app, &token);
    token_post(
        &app,
        request,
        checked,
        |(email, signed_up), form| {
            Ok((
                email.clone(),
                Change::Confirm {
                    email,
                    signed_up,
                    name: form.name().map_err(|e| (e.status, e.what))?,
                    tags: form.topics(&app.topics),
                },
            ))
        },
        "You are subscribed",
        |email| format!("{email} will get the next issue."),
    )
    .await
}

fn unsubscribe_token(app: &App, token: &str) -> Result<Email, Refusal> {
    app.tokens.verify(token).ok_or((
        StatusCode::BAD_REQUEST,
        "This unsubscribe link is not valid. Check that it was copied whole.",
    ))
}

async fn unsubscribe_page(State(app): Shared, Path(token): Path<String>) -> Response {
    match unsubscribe_token(&app, &token) {
        Ok(email) => pages::one_button(
            app.name(),
            "Unsubscribe",
            &format!("Press the button to stop {} for {email}.", app.name()),
            "Unsubscribe",
            Some(("List-Unsubscribe", "One-Click")),
        ),
        Err((status, what)) => app.problem(status, what),
    }
}

/// RFC 8058 one-click: the body is `List-Unsubscribe=One-Click`
/// (urlencoded or multipart), with no cookies; the answer is a page, never
/// a redirect. The token alone decides; unsubscribing twice is fine.
async fn unsubscribe(State(app): Shared, Path(token): Path<String>, request: Request) -> Response {
    let checked = unsubscribe_token(&app, &token);
    let name = app.name().to_owned();
    token_post(
        &app,
        request,
        checked,
        |email, _| Ok((email.clone(), Change::Unsubscribe { email })),
        "You are unsubscribed",
        |email| format!("{email} will get no more mail from {name}."),
    )
    .await
}
