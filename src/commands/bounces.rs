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
use crate::inbound::classify::{Mark, Ours, classify};
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
    let list = &config.newsletter.subscribers;
    // What is done is what the history names, whatever flags a mail
    // client has set since.
    let processed = apply::processed(list)?;
    // Only what is ours is kept; the rest is counted and left alone.
    let (mut read, mut not_ours) = (0u64, 0u64);
    let mut why_not: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let (found, unmarked) = mailbox.read_new(&processed, |_, bytes| {
        read += 1;
        match classify(bytes, &ours) {
            Ok(finding) => Some(finding),
            Err(why) => {
                not_ours += 1;
                *why_not.entry(why).or_default() += 1;
                None
            }
        }
    })?;
    drop(processed);
    let logs = crate::deliver::journal::every_log(&config, None);
    let by_digest = {
        let wanted: HashSet<String> = found
            .iter()
            .filter_map(|(_, f)| match &f.mark {
                Mark::Digest(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        apply::readers_by_digest(&logs, &wanted)
    };
    let verp = {
        let wanted: HashSet<String> = found
            .iter()
            .filter_map(|(_, f)| match &f.mark {
                Mark::Verp { reader, .. } => Some(reader.clone()),
                _ => None,
            })
            .collect();
        match &tokens {
            Some(t) if !wanted.is_empty() => {
                Some(apply::VerpIndex::build(list, &logs, t, &wanted)?)
            }
            _ => None,
        }
    };

    let now = crate::now()?;
    let mut events = Vec::new();
    let mut used = unmarked;
    let (mut unmatched, mut other_reader) = (0u64, 0u64);
    let mut counts = std::collections::HashMap::<Kind, u64>::new();
    // The findings are let go as they become events: a big mailbox's
    // worth of them is most of the memory a run takes.
    for (mail, finding) in found {
        let Some((email, issue)) =
            apply::resolve(&finding.mark, &by_digest, verp.as_ref(), tokens.as_ref())
        else {
            // Ours by its look, but nothing says whose: left as is.
            unmatched += 1;
            continue;
        };
        if !apply::names_reader(&finding.recipients, &email) {
            // A report about another address (a forward, a relay's
            // rewrite): not this reader's to bear.
            other_reader += 1;
            continue;
        }
        let kind = apply::kind_of(finding.what);
        *counts.entry(kind).or_default() += 1;
        events.push(Event {
            email,
            kind,
            issue,
            status: finding.status,
            detail: finding.detail,
            source: mail.id.clone(),
            at: finding.date.unwrap_or(now).min(now),
        });
        used.push(mail);
    }
    drop(by_digest);
    drop(verp);
    let changes = apply::apply(list, Some(bounces), &events, now, args.dry_run)?;
    if !args.dry_run {
        mailbox.mark_done(&used, args.delete_processed)?;
    }
    let n = |k| counts.get(&k).copied().unwrap_or(0);
    let verb = if args.dry_run { "would be" } else { "were" };
    println!(
        "{read} messages read: {} hard bounces, {} soft bounces, {} refusals not about the reader, {} complaints, {} unsubscribes; \
         {not_ours} not ours or not understood, {unmatched} ours but of no known reader, {other_reader} naming another recipient (left as they are)",
        n(Kind::Hard),
        n(Kind::Soft),
        n(Kind::Refused),
        n(Kind::Complaint),
        n(Kind::Unsubscribe),
    );
    for (why, k) in &why_not {
        println!("    {k} × {why}");
    }
    print_causes(&events, &logs);
    println!(
        "{}: {} readers {verb} marked bounced, {} complained, {} unsubscribed; {} reports older than the reader's last change (left as they are)",
        list.display(),
        changes.bounced,
        changes.complained,
        changes.unsubscribed,
        changes.outdated
    );
    if args.dry_run {
        println!("(dry run: nothing written, no message marked)");
    }
    Ok(Outcome::Success)
}

/// The permanent failures grouped by cause (addresses and tokens masked:
/// one line each), and a loud warning for a cause that hit many readers
/// of an issue. Only a mailbox that is gone bounced anyone.
fn print_causes(events: &[Event], logs: &[(String, std::path::PathBuf)]) {
    let mut groups: std::collections::BTreeMap<
        (String, String),
        std::collections::BTreeMap<String, u64>,
    > = Default::default();
    for e in events {
        if !matches!(e.kind, Kind::Hard | Kind::Soft | Kind::Refused) {
            continue;
        }
        let cause = crate::deliver::refusal::mask(if e.detail.is_empty() {
            &e.status
        } else {
            &e.detail
        });
        *groups
            .entry((e.issue.clone(), cause))
            .or_default()
            .entry(crate::deliver::refusal::domain_of(e.email.as_str()))
            .or_default() += 1;
    }
    let mut listed: Vec<crate::deliver::journal::FailureGroup> = Vec::new();
    let mut issue_of = Vec::new();
    for ((issue, reply), domains) in groups {
        let mut domains: Vec<(String, u64)> = domains.into_iter().collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        listed.push(crate::deliver::journal::FailureGroup {
            readers: domains.iter().map(|(_, n)| n).sum(),
            reply,
            domains,
        });
        issue_of.push(issue);
    }
    let mut order: Vec<usize> = (0..listed.len()).collect();
    order.sort_by(|a, b| listed[*b].readers.cmp(&listed[*a].readers));
    for i in order.iter().take(10) {
        println!("    {} × {}", listed[*i].readers, listed[*i].reply);
    }
    // An issue's readers are those its delivery log names; without the
    // log only the "more than 20" rule can be applied.
    let mut readers: std::collections::HashMap<&str, u64> = Default::default();
    for (group, issue) in listed.iter().zip(&issue_of) {
        if group.readers < 2 {
            continue;
        }
        let total = *readers.entry(issue.as_str()).or_insert_with(|| {
            logs.iter()
                .find(|(id, _)| id == issue)
                .and_then(|(_, log)| crate::deliver::journal::read_log(log).ok())
                .map_or(u64::MAX, |h| h.last.len() as u64)
        });
        for w in crate::commands::loud_causes(std::slice::from_ref(group), total) {
            eprintln!("{w}");
        }
    }
}
