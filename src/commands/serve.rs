//! `bulletin serve`: checks what the server needs (the `[serve]` section,
//! the unsubscribe secret, `[smtp]` for confirmation mail, the welcome
//! issue), then runs the web endpoint until it is stopped.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::Outcome;
use crate::audience::unsubscribe::Unsubscriber;
use crate::cli::ServeArgs;
use crate::compose::message::Template;
use crate::deliver::smtp::Server;
use crate::input::config::Config;
use crate::input::issue::Issue;

pub fn run(config_path: &Path, args: &ServeArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let path = config.path.display();
    let Some(serve) = config.serve.clone() else {
        bail!(
            "{path}: no [serve] section; add one with public_url (see docs/serve.md, \"Running the web endpoint\")"
        );
    };
    let Some(tokens) = Unsubscriber::from_config(&config, true)? else {
        bail!("{path}: no [unsubscribe] section; serve answers its links and needs its secret");
    };
    let Some(smtp) = &config.smtp else {
        bail!("{path}: no [smtp] section; serve sends sign-ups their confirmation mail through it");
    };
    let password = std::env::var(&smtp.password_env)
        .ok()
        .map(SecretString::from);
    let server = Server::new(smtp, password, &config.newsletter.from.email)?;
    let dkim = match &config.dkim {
        Some(settings) => Some(crate::compose::dkim::load(settings)?),
        None => None,
    };
    let welcome = match &serve.welcome {
        None => None,
        Some(path) => Some(welcome_template(&config, path)?),
    };
    // serve's mail counts toward the first relay's daily limit, in the
    // book every sender shares.
    let book = std::sync::Arc::new(crate::deliver::quota::Book::beside(&config.path));
    let quota = config.relays.first().map(|r| {
        crate::commands::fleet::quota(&config, r, &book, None, crate::clock()).one_at_a_time()
    });
    let setup = crate::web::Setup {
        quota,
        newsletter: config.newsletter.clone(),
        listen: args.listen.unwrap_or(serve.listen),
        serve,
        tokens,
        smtp: server,
        dkim,
        archive: config
            .archive
            .as_ref()
            .map(|_| crate::commands::archive::default_dir(&config)),
        welcome,
        old_welcome_ledger: crate::deliver::journal::logs_dir(&config).join("welcome.csv"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::web::serve(setup))?;
    Ok(Outcome::Success)
}

/// `[serve] welcome`: the issue read and made ready to fill in for each
/// new reader. It has no "View in browser" link (it is not in the
/// archive), and every field but `email` needs a default: a sign-up gives
/// only an address, and a name when the reader cares to.
fn welcome_template(config: &Config, path: &Path) -> anyhow::Result<Template> {
    let mut issue = Issue::load(path)?;
    issue.archive = false;
    let (_, template) = crate::commands::prepare(config, &issue, true)?;
    // Its local images where every welcome mail loads them from.
    crate::commands::archive::publish_media(config, &issue)?;
    let needed: Vec<String> = template
        .required_fields()
        .into_iter()
        .filter(|(field, _)| field != "email")
        .map(|(field, at)| {
            format!(
                "{at}: the welcome issue uses {{{{ {field} }}}} without a default, but a sign-up may leave it empty; write {{{{ {field} | default(\"…\") }}}}"
            )
        })
        .collect();
    if !needed.is_empty() {
        bail!("{}", needed.join("\n"));
    }
    Ok(template)
}
