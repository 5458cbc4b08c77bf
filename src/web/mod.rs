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
mod links;
mod listen;
mod mailer;
mod pages;
mod tongue;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::audience::unsubscribe::Unsubscriber;
use crate::compose::dkim::Signer;
use crate::deliver::smtp::Server;
use crate::input::config::{Newsletter, Serve};
use crate::input::email::Email;
use crate::input::words::serve::Say;
use limit::{Limiter, client_ip};
use mailer::{Mail, Mailer, MailerSetup};
use pages::{Pages, Talk};
use tongue::{Tongues, asked_in};
use writer::{ListWriter, Outcome, Request as Change};

/// Everything a request needs.
struct App {
    tokens: Arc<Unsubscriber>,
    /// How long a request's body may take to arrive.
    request_timeout: Duration,
    /// The web archive's folder, served under `/archive/`.
    archive: Option<std::path::PathBuf>,
    /// Every page, in the one look (with the topics the sign-up form
    /// offers).
    pages: Pages,
    expiry: Duration,
    trusted_proxy: Vec<crate::input::config::Cidr>,
    list: ListWriter,
    mailer: Mailer,
    limiter: Limiter,
}

type Shared = State<Arc<App>>;

impl App {
    /// The pages in the language a request asks for: `asked` (the `lang`
    /// of its form or query), else its `Accept-Language`, else the
    /// newsletter's.
    fn talk(&self, asked: Option<&str>, headers: &HeaderMap) -> Talk<'_> {
        self.pages.talk(self.pages.tongues.pick(asked, headers))
    }

    /// A request's form, read, and the pages in its language (the form's
    /// `lang`, else `early`'s); or the page that says why it could not be
    /// read.
    async fn read_form<'a>(
        &'a self,
        request: Request,
        headers: &HeaderMap,
        early: Talk<'a>,
    ) -> Result<(forms::Form, Talk<'a>), Box<Response>> {
        let form = forms::read(request, self.request_timeout)
            .await
            .map_err(|e| Box::new(early.problem(e.status, e.what)))?;
        let talk = match form.get("lang") {
            "" => early,
            lang => self.talk(Some(lang), headers),
        };
        Ok((form, talk))
    }

    /// The same for a request whose query may name the language.
    fn talk_query(&self, query: Option<&str>, headers: &HeaderMap) -> Talk<'_> {
        self.talk(asked_in(query).as_deref(), headers)
    }

    /// The language a sign-up proposes or a confirmation records, and
    /// whether it is another than the newsletter's (only such a one gives
    /// a list without a `lang` column the column: an empty `lang` reads
    /// the newsletter's).
    fn reader_lang(&self, talk: &Talk<'_>) -> writer::ReaderLang {
        writer::ReaderLang {
            lang: talk.tongue.lang.clone(),
            other: talk.tongue.lang != self.pages.tongues.main().lang,
        }
    }
}

/// 503 with `Retry-After`: the change was not made (the list was busy
/// past its bound, or could not be written), and the client is told so,
/// never a 200.
fn list_error(talk: &Talk<'_>, e: &str) -> Response {
    eprintln!("{e}");
    busy(talk.problem(StatusCode::SERVICE_UNAVAILABLE, Say::ListBusy))
}

/// An address as `serve`'s log names it: its first letter and its
/// domain (`a…@example.org`), enough to follow a reader's steps without
/// writing whole addresses into the system log.
fn who(email: &Email) -> String {
    let address = email.as_str();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".to_owned(),
    }
}

/// One line in `serve`'s log (stdout: the journal under systemd) for each
/// change a reader made.
fn log_change(what: &str, email: &Email) {
    println!("bulletin serve: {what} {}", who(email));
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
                "bulletin serve: {} still owed; mailing them",
                crate::count(queued.len() as u64, "welcome", "welcomes")
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
            expiry: setup.serve.confirm_expiry,
            server: setup.smtp,
            dkim: setup.dkim,
            tokens: tokens.clone(),
            public_url: setup.serve.public_url.clone(),
            list: list_path.clone(),
            resend_after: setup.serve.confirm_resend_after,
            retry_for: setup.serve.confirm_retry_for,
            welcome: setup.welcome,
            quota: setup.quota,
            tongues: Tongues::new(&setup.newsletter.lang, &setup.newsletter.words),
            books,
            writer: list.clone(),
        },
        owed,
    );
    let pages = Pages {
        newsletter: setup.newsletter.name.to_string(),
        signup: format!("{}/subscribe", setup.serve.public_url),
        archive_url: format!("{}/archive/", setup.serve.public_url),
        archive: setup.archive.clone(),
        topics: setup.serve.topics.clone(),
        tongues: Tongues::new(&setup.newsletter.lang, &setup.newsletter.words),
    };
    let app = Arc::new(App {
        mailer,
        tokens,
        request_timeout: setup.serve.request_timeout,
        pages,
        archive: setup.archive,
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
        .route("/", get(subscribe_page).post(subscribe))
        .route(
            "/archive",
            get(|| async { axum::response::Redirect::permanent("/archive/") }),
        )
        .route("/archive/", get(archive_index))
        .route("/archive/{*path}", get(archive_file))
        .route("/subscribe", get(subscribe_page).post(subscribe))
        .route(
            "/confirm/{token}",
            get(links::confirm_page).post(links::confirm),
        )
        .route(
            "/unsubscribe/{token}",
            get(links::unsubscribe_page).post(links::unsubscribe),
        )
        .route(
            "/unsubscribe/{token}/undo",
            axum::routing::post(links::undo),
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
    let missing = app.talk(None, headers).not_found();
    match &app.archive {
        Some(dir) => archive::get(dir, rel, headers, missing).await,
        None => missing,
    }
}

async fn not_found(State(app): Shared, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    app.talk_query(query.as_deref(), &headers).not_found()
}

async fn subscribe_page(
    State(app): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    app.talk_query(query.as_deref(), &headers).subscribe_form()
}

async fn subscribe(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let early = app.talk_query(query.as_deref(), &headers);
    let ip = client_ip(peer.ip(), &headers, &app.trusted_proxy);
    if !app.limiter.allow(ip) {
        return early.problem(StatusCode::TOO_MANY_REQUESTS, Say::TooManySignups);
    }
    // In the language of the page the form was on.
    let (form, talk) = match app.read_form(request, &headers, early).await {
        Ok(read) => read,
        Err(page) => return *page,
    };
    // A filled honeypot is a bot: it is told what a person is told, and
    // nothing happens.
    if !form.get("website").is_empty() {
        return talk.check_inbox();
    }
    let Ok(email) = Email::parse(form.get("email")) else {
        return talk.problem(StatusCode::BAD_REQUEST, Say::NotAnAddress);
    };
    let name = match form.name() {
        Ok(name) => name,
        Err(e) => return talk.problem(e.status, e.what),
    };
    let outcome = app
        .list
        .ask(Change::SignUp {
            email: email.clone(),
            name,
            tags: form.topics(&app.pages.topics),
            lang: app.reader_lang(&talk),
        })
        .await;
    match &outcome {
        Ok(Outcome::NowPending { .. }) => log_change("sign-up (confirmation mail queued):", &email),
        Ok(Outcome::StillPending { .. }) => log_change("sign-up again, still waiting:", &email),
        Ok(_) => log_change("sign-up changed nothing (listed, or suppressed):", &email),
        Err(_) => {}
    }
    match outcome {
        Ok(Outcome::NowPending { at } | Outcome::StillPending { at }) => {
            // The link names this sign-up (it works once, and only while
            // the sign-up is the address's latest). The mailer decides
            // whether a mail goes (one an hour at most).
            let queued = app.mailer.send(crate::audience::outbox::Waiting {
                email,
                signed_up: at,
                lang: Some(talk.tongue.lang.clone()),
            });
            if !queued {
                // The row is written; the outbox has it. Asked again, we
                // try again.
                return busy(talk.problem(StatusCode::SERVICE_UNAVAILABLE, Say::SignupsBusy));
            }
        }
        // Subscribed already, or bounced or complained: nothing is sent,
        // and the page says what it says to anyone.
        Ok(_) => {}
        Err(e) => return list_error(&talk, &e),
    }
    // The same answer whether or not the address was on the list.
    talk.check_inbox()
}
