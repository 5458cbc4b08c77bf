//! `bulletin bounces`: reads the return mailbox (a Maildir, an mbox, or
//! IMAP), applies what it finds to the list, marks what it used as done,
//! and says what it did.

use std::collections::HashSet;
use std::path::Path;

use anyhow::bail;

use crate::Outcome;
use crate::audience::unsubscribe::Unsubscriber;
use crate::cli::BouncesArgs;
use crate::inbound::apply::{self, Event, Kind};
use crate::inbound::classify::{Finding, Mark, Ours, classify};
use crate::inbound::mailbox::Mailbox;
use crate::input::config::Config;
use crate::input::email::ascii_domain;

pub fn run(config_path: &Path, args: &BouncesArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let Some(bounces) = &config.bounces else {
        bail!(
            "{}: no [bounces] section; add `address` (the envelope sender bounces come back to)",
            config.path.display()
        );
    };
    let mailbox = match (&args.maildir, &args.mbox, &bounces.imap) {
        (Some(dir), None, _) => Mailbox::Maildir(dir.clone()),
        (None, Some(file), _) => Mailbox::Mbox(file.clone()),
        (None, None, Some(imap)) => {
            let password = std::env::var(&imap.password_env)
                .ok()
                .filter(|p| !p.is_empty())
                .map(secrecy::SecretString::from)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the environment variable {} (the IMAP password, [bounces] in {}) is not set",
                        imap.password_env,
                        config.path.display()
                    )
                })?;
            Mailbox::Imap(Box::new(crate::inbound::imap::ImapBox::open(
                imap, password,
            )?))
        }
        _ => bail!(
            "give --maildir DIR or --mbox FILE, or set [bounces] imap in {}",
            config.path.display()
        ),
    };
    // Mailed unsubscribes carry tokens only the secret can read.
    let tokens = Unsubscriber::from_config(&config, false)?.filter(Unsubscriber::has_secret);
    let from = ascii_domain(&config.newsletter.from.email);
    let verp = bounces.address.envelope();
    let ours = Ours {
        verp_user: verp.user(),
        verp_domain: verp.domain(),
        id_domain: from.domain(),
    };
    // Only what is ours is kept; the rest is counted and left alone.
    let (mut read, mut not_ours) = (0u64, 0u64);
    let found = mailbox.read_unread(|_, bytes| {
        read += 1;
        let finding = classify(bytes, &ours);
        if matches!(finding, Finding::NotOurs(_)) {
            not_ours += 1;
            return None;
        }
        Some(finding)
    })?;
    let by_digest = {
        let wanted: HashSet<String> = found
            .iter()
            .filter_map(|(_, f)| match apply::kind_of(f) {
                Some((_, Mark::Digest(d), _, _)) => Some(d.clone()),
                _ => None,
            })
            .collect();
        let logs = config.path.parent().unwrap_or(Path::new(".")).join("logs");
        apply::readers_by_digest(&logs, &wanted)?
    };

    let mut events = Vec::new();
    let mut used = Vec::new();
    let mut unmatched = 0u64;
    let mut counts = std::collections::HashMap::<Kind, u64>::new();
    // The findings are let go as they become events: a big mailbox's
    // worth of them is most of the memory a run takes.
    for (mail, finding) in found {
        let Some((kind, mark, status, detail)) = apply::kind_of(&finding) else {
            continue;
        };
        let Some((email, issue)) = apply::resolve(mark, &by_digest, tokens.as_ref()) else {
            // Ours by its look, but no log or token says whose: left as is.
            unmatched += 1;
            continue;
        };
        *counts.entry(kind).or_default() += 1;
        events.push(Event {
            email,
            kind,
            issue,
            status,
            detail,
            source: mail.id.clone(),
        });
        used.push(mail);
    }
    drop(by_digest);
    let now = crate::now()?;
    let list = &config.newsletter.subscribers;
    let changes = apply::apply(list, Some(bounces), &events, now, args.dry_run)?;
    if !args.dry_run {
        mailbox.mark_done(&used, args.delete_processed)?;
    }
    let n = |k| counts.get(&k).copied().unwrap_or(0);
    let verb = if args.dry_run { "would be" } else { "were" };
    println!(
        "{read} messages read: {} hard bounces, {} soft bounces, {} complaints, {} unsubscribes; \
         {not_ours} not ours or not understood, {unmatched} ours but of no known reader (left as they are)",
        n(Kind::Hard),
        n(Kind::Soft),
        n(Kind::Complaint),
        n(Kind::Unsubscribe),
    );
    println!(
        "{}: {} readers {verb} marked bounced, {} complained, {} unsubscribed",
        list.display(),
        changes.bounced,
        changes.complained,
        changes.unsubscribed
    );
    if args.dry_run {
        println!("(dry run: nothing written, no message marked)");
    }
    Ok(Outcome::Success)
}
