//! `bulletin serve`: checks what the server needs (the `[serve]` section,
//! the unsubscribe secret, `[smtp]` for confirmation mail), then runs the
//! web endpoint until it is stopped.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::Outcome;
use crate::audience::unsubscribe::Unsubscriber;
use crate::cli::ServeArgs;
use crate::deliver::smtp::Server;
use crate::input::config::Config;

pub fn run(config_path: &Path, args: &ServeArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let path = config.path.display();
    let Some(serve) = config.serve.clone() else {
        bail!(
            "{path}: no [serve] section; add one with public_url (see README, \"Running the web endpoint\")"
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
    let setup = crate::web::Setup {
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
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::web::serve(setup))?;
    Ok(Outcome::Success)
}
