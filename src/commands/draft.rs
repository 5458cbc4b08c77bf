//! `bulletin draft --from-feed`: an issue from the entries of a site's feed
//! not drafted before, written beside the config (and, with `--send`,
//! checked and sent). An entry is recorded as done only once its issue is
//! written (and sent), so a crash neither loses nor repeats one.

mod fetch;
mod place;
mod state;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use url::Url;

use crate::Outcome;
use crate::cli::{CheckArgs, DraftArgs, SendArgs};
use crate::input::config::Config;
use crate::input::feed::{self, Entry};
use crate::input::issue::IssueDate;
use fetch::Fetched;
use place::{free_issue_path, write_new};
use state::{Pending, State};

/// Where the feed comes from, as given.
enum Source {
    Url(Url),
    File(PathBuf),
}

impl Source {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.starts_with("http://") || text.starts_with("https://") {
            let url = Url::parse(text).map_err(|e| {
                crate::UsageError(format!("--from-feed {text:?} is not a valid URL ({e})"))
            })?;
            return Ok(Source::Url(url));
        }
        if text.contains("://") {
            return Err(crate::UsageError(format!(
                "--from-feed takes an http(s) URL or a file, not {text:?}"
            ))
            .into());
        }
        Ok(Source::File(PathBuf::from(text)))
    }

    /// What the state file keys the feed by. A URL's password or query
    /// (a private feed's token) is not written there: it is kept as a
    /// digest, so two tokens are still two feeds.
    fn key(&self) -> String {
        match self {
            Source::Url(u) if u.password().is_some() || u.query().is_some() => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(u.as_str().as_bytes());
                let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("{} sha256:{short}", fetch::shown(u))
            }
            Source::Url(u) => u.to_string(),
            Source::File(p) => std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
        }
    }

    fn shown(&self) -> String {
        match self {
            Source::Url(u) => fetch::shown(u),
            Source::File(p) => p.display().to_string(),
        }
    }
}

pub fn run(config_path: &Path, args: &DraftArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(config_path)?;
    let settings = config.feed.clone().unwrap_or_default();
    let Some(given) = args.from_feed.as_deref().or(settings.url.as_deref()) else {
        return Err(crate::UsageError(
            "no feed: give --from-feed URL|FILE, or set [feed] url in the config".into(),
        )
        .into());
    };
    let source = Source::parse(given)?;
    if args.send && config.relays.is_empty() {
        bail!(
            "{}: no [smtp] section; add one to send the draft (or leave out --send)",
            config.path.display()
        );
    }
    let dir = config_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let state_path = dir.join(state::FILE_NAME);
    let _running = state::RunLock::take(&state_path)?;
    let mut state = State::load(&state_path)?;
    let key = source.key();
    let run = DraftRun {
        config_path,
        args,
        state_path: &state_path,
        key: &key,
    };

    // What earlier runs left unfinished comes first; its outcome is this
    // run's too.
    let earlier = run.finish_pending(&mut state)?;
    if let Some(out) = &args.out
        && out.exists()
    {
        bail!(
            "{}: already exists; a draft never overwrites a file",
            out.display()
        );
    }

    let fetched = match &source {
        Source::Url(url) => {
            let known = state.feed(&key).validators.clone();
            fetch::fetch(url, &known, settings.tls_ca_file.as_deref())?
        }
        Source::File(path) => fetch::read_file(path)?,
    };
    let (bytes, fetched_url, validators) = match fetched {
        Fetched::NotModified => {
            println!(
                "nothing new in {} (not modified since the last read)",
                source.shown()
            );
            return Ok(earlier);
        }
        Fetched::Body {
            bytes,
            url,
            validators,
        } => (bytes, url, validators),
    };
    let parsed = feed::parse(&bytes, fetched_url.as_ref()).map_err(|e| match e.line {
        Some(line) => anyhow::anyhow!("{}:{line}: {}", source.shown(), e.message),
        None => anyhow::anyhow!("{}: {}", source.shown(), e.message),
    })?;
    let feed_state = state.feed(&key);
    let new: Vec<Entry> = parsed
        .entries
        .into_iter()
        .filter(|e| !feed_state.taken(&e.id))
        .collect();
    let all_taken = new.len() <= settings.max_items;
    // Validators are kept only when every new entry is in this draft, so a
    // 304 never hides the ones left for the next run.
    let validators = if all_taken {
        validators
    } else {
        Default::default()
    };
    if new.is_empty() {
        if feed_state.validators != validators {
            feed_state.validators = validators;
            state.save(&state_path)?;
        }
        println!("nothing new in {}", source.shown());
        return Ok(earlier);
    }
    let entries: Vec<Entry> = new.into_iter().take(settings.max_items).collect();
    let date = today(&config)?;
    let path = match &args.out {
        Some(out) => out.clone(),
        None => free_issue_path(
            &config,
            &dir.join("issues"),
            date,
            &state::FeedState::held_paths(&state),
        )?,
    };
    // Pending drafts are kept by absolute path: a later run may start in
    // another folder.
    let kept = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let text = feed::draft::issue_toml(&entries, &settings.subject, date, &source.shown())
        .map_err(|e| anyhow::anyhow!("{}: the draft cannot be written: {e}", path.display()))?;
    // The intent first: a crash after the file is written finds it here.
    state.feed(&key).pending.push(Pending {
        path: kept.clone(),
        ids: entries.iter().map(|e| e.id.clone()).collect(),
        send: args.send,
        written: false,
        // Set at its first send: the week of tries starts then.
        since: None,
    });
    state.save(&state_path)?;
    if let Err(failed) = write_new(&path, &text) {
        // Forgotten unless the draft was put in place: one renamed into
        // place whose folder could not be synced is the draft, and the
        // next run finds it pending; a file that was there already (or
        // appeared meanwhile) is not ours, and is never sent as a draft.
        if !failed.placed {
            state.feed(&key).forget(&kept);
            state.save(&state_path)?;
        }
        return Err(failed.error);
    }
    let feed_state = state.feed(&key);
    feed_state.validators = validators;
    if let Some(p) = feed_state.pending_at(&kept) {
        p.written = true;
    }
    if !args.send {
        feed_state.finish(&kept);
    }
    state.save(&state_path)?;
    println!(
        "Wrote {}: {} from {}{}",
        path.display(),
        crate::count(entries.len() as u64, "story", "stories"),
        source.shown(),
        if all_taken {
            String::new()
        } else {
            format!(" (the newest {}; the rest next time)", settings.max_items)
        }
    );
    // Tests stop here as a crash would (kill -9: no unwinding, nothing
    // more written) to see the next run send this draft, not a new one.
    if std::env::var_os("BULLETIN_FEED_TEST_CRASH_BEFORE_SEND").is_some() {
        std::process::abort();
    }
    if !args.send {
        println!(
            "Check it with `bulletin check --issue {}`, then send it.",
            path.display()
        );
        return Ok(earlier);
    }
    let sent = run.send_pending(&mut state, &kept)?;
    Ok(worse(earlier, sent))
}

fn worse(a: Outcome, b: Outcome) -> Outcome {
    if a == Outcome::Success { b } else { a }
}

/// One `draft` run's fixed parts, for the steps on its pending drafts.
struct DraftRun<'a> {
    config_path: &'a Path,
    args: &'a DraftArgs,
    state_path: &'a Path,
    key: &'a str,
}

impl DraftRun<'_> {
    /// The drafts earlier runs decided on and did not finish, each in
    /// turn: one never written is forgotten (its entries new again); one
    /// written and since taken away, or not meant to be sent, is done;
    /// one to be sent is sent now with `--send` (done once nobody is
    /// still due), else kept for a later `--send`.
    fn finish_pending(&self, state: &mut State) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::Success;
        for pending in state.feed(self.key).pending.clone() {
            let path = &pending.path;
            if !path.exists() {
                let feed = state.feed(self.key);
                if pending.written {
                    eprintln!(
                        "note: {} was drafted and is gone; its entries are not drafted again",
                        path.display()
                    );
                    feed.finish(path);
                } else {
                    feed.forget(path);
                }
                state.save(self.state_path)?;
                continue;
            }
            // A draft written to be edited is the editor's now, never sent
            // unread by a later `--send`.
            if !pending.send {
                state.feed(self.key).finish(path);
                state.save(self.state_path)?;
                continue;
            }
            if self.args.send {
                println!(
                    "{} was drafted and not sent to everyone yet: sending it first.",
                    path.display()
                );
                outcome = worse(outcome, self.send_pending(state, path)?);
                continue;
            }
            eprintln!(
                "note: {} was drafted for sending and not sent to everyone; `bulletin draft --send` sends it (or send it yourself)",
                path.display()
            );
        }
        Ok(outcome)
    }

    /// Checks the pending draft at `path` and sends it; its entries are
    /// done once no reader is still due (deferred, or not reached), else it
    /// stays pending and the next `--send` run sends again (the delivery
    /// log knows who has it: nobody is mailed twice).
    fn send_pending(&self, state: &mut State, path: &Path) -> anyhow::Result<Outcome> {
        let check = crate::commands::check::run(
            self.config_path,
            &CheckArgs {
                issue: path.to_path_buf(),
                strict: false,
                json: false,
                dns: false,
                resolver: None,
            },
        )?;
        if check != Outcome::Success {
            bail!(
                "{}: the draft did not pass check, so it was not sent; fix it and run `bulletin draft --send` again (it is sent then, not drafted again)",
                path.display()
            );
        }
        let outcome =
            crate::commands::send::run(self.config_path, &send_args(path, self.args.yes))?;
        let due = crate::commands::status::still_due(self.config_path, path)?;
        let now = unix_secs()?;
        let since = {
            let pending = state.feed(self.key).pending_at(path);
            // A draft from before `since` was kept starts its time now.
            match pending {
                Some(p) => *p.since.get_or_insert(now),
                None => now,
            }
        };
        if due > 0 && now.saturating_sub(since) >= state::GIVE_UP_AFTER.as_secs() {
            eprintln!(
                "note: {} still due for {} after {} days of tries; the draft is let go (its entries are done). \
                 They stay due in its delivery log: `bulletin status --issue {}` shows them, `bulletin send --issue {}` tries them again",
                crate::count(due, "reader is", "readers are"),
                path.display(),
                state::GIVE_UP_AFTER.as_secs() / 86_400,
                path.display(),
                path.display()
            );
            state.feed(self.key).finish(path);
            state.save(self.state_path)?;
            return Ok(Outcome::Problems);
        }
        if due > 0 {
            state.save(self.state_path)?;
            eprintln!(
                "note: {} still due for {}; the next `bulletin draft --send` sends to them first (its entries are not drafted again)",
                crate::count(due, "reader is", "readers are"),
                path.display()
            );
            return Ok(Outcome::Problems);
        }
        state.feed(self.key).finish(path);
        state.save(self.state_path)?;
        Ok(outcome)
    }
}

fn send_args(issue: &Path, yes: bool) -> SendArgs {
    SendArgs {
        issue: issue.to_path_buf(),
        dry_run: false,
        out: None,
        yes,
        limit: None,
        to: None,
        log: None,
        force: false,
        resend_unknown: false,
        retry_failed: false,
        strict: false,
        wait: false,
        json: false,
        at: None,
        late: std::time::Duration::from_secs(3600),
        local: false,
    }
}

/// Today in the newsletter's zone (UTC without one).
fn today(config: &Config) -> anyhow::Result<IssueDate> {
    let now = crate::now()?;
    let date = match &config.newsletter.timezone {
        Some(zone) => zone.date(now),
        None => crate::input::when::Zone::parse("UTC")
            .map_err(|why| anyhow::anyhow!("the UTC zone: {why}"))?
            .date(now),
    };
    Ok(IssueDate {
        year: u16::try_from(date.year()).context("the year")?,
        month: u8::try_from(date.month()).context("the month")?,
        day: u8::try_from(date.day()).context("the day")?,
    })
}

/// Now, in Unix seconds.
fn unix_secs() -> anyhow::Result<u64> {
    Ok(crate::now()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_feeds_token_is_not_kept_in_the_state() {
        let key = |u: &str| Source::parse(u).expect("a URL").key();
        let one = key("https://example.org/feed.xml?token=s3cret");
        let two = key("https://example.org/feed.xml?token=other");
        assert!(!one.contains("s3cret"), "{one}");
        assert!(
            one.starts_with("https://example.org/feed.xml?… sha256:"),
            "{one}"
        );
        assert_ne!(one, two);
        assert!(!key("https://ann:pw@example.org/f").contains("pw@"));
        assert_eq!(
            key("https://example.org/feed.xml"),
            "https://example.org/feed.xml"
        );
    }
}
