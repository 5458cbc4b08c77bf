//! One module per subcommand, and what they share: loading the inputs and
//! preparing the message template.
//!
//! The top of the pipeline: may use every stage.

pub mod archive;
pub mod bounces;
pub mod check;
pub mod dns;
pub mod docs;
pub mod draft;
pub mod fleet;
pub mod init;
pub mod list;
pub mod paint;
pub mod preview;
pub mod progress;
pub mod send;
pub mod serve;
pub mod status;
pub mod subscribe;
pub mod summary;
pub mod test_copy;

use std::path::Path;

use crate::audience::subscribers::{Snapshot, Subscriber, SubscriberFile};
use crate::audience::unsubscribe::Unsubscriber;
use crate::compose::message::{Recipient, Template};
use crate::compose::personal::{FieldNames, Personal};
use crate::compose::render::{self, Rendered};
use crate::input::config::Config;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::issue::Issue;

/// The config and the issue, or every problem found in either.
pub fn load_inputs(config: &Path, issue: &Path) -> Result<(Config, Issue), Diagnostics> {
    match (Config::load(config), Issue::load(issue)) {
        (Ok(c), Ok(i)) => Ok((c, i)),
        (c, i) => {
            let mut all = Vec::new();
            all.extend(c.err().into_iter().flat_map(|d| d.0));
            all.extend(i.err().into_iter().flat_map(|d| d.0));
            Err(Diagnostics(all))
        }
    }
}

/// An issue's local images placed where the archive publishes them; an
/// issue with some and no `[archive]` is refused at the first one's line
/// (its readers' mail would have nowhere to load it from).
pub fn place_images(config: &Config, issue: &mut Issue) -> Result<(), Diagnostics> {
    let Some(first) = issue.images.first() else {
        return Ok(());
    };
    match &config.archive {
        Some(archive) => {
            issue.place_images(&archive.url);
            Ok(())
        }
        // A text issue shows an image as `[Image: alt]`: nothing loads.
        None if issue.format_in(&config.newsletter) == crate::input::config::Format::Text => Ok(()),
        None => Err(Diagnostics(vec![
            crate::input::diagnostic::Diagnostic::new(
                &issue.file,
                Some(first.line),
                format!(
                    "image {:?} is a file here, and a mail loads images from the web: add an [archive] \
                 to the config (its images are published with it, under its url), or use an \
                 https:// URL",
                    first.src
                ),
            ),
        ])),
    }
}

/// The subject in quotes as the editor is shown it: `«…»` as it is; or,
/// when it holds a reader's field, as `to` gets it, marked as
/// personalised (with `{…}` where a value goes when there is no reader).
pub fn subject_for_editor(subject: &str, template: &Template, to: Option<Recipient<'_>>) -> String {
    if !holds_field(subject) {
        return format!("«{subject}»");
    }
    let part = render::Part::split(String::from(subject));
    match to.and_then(|to| template.values(to).ok().map(|v| (to.email, v))) {
        Some((email, values)) => format!(
            "«{}» (personalised: as {email} gets it)",
            part.fill("", &values, render::as_typed)
        ),
        None => format!("«{}» (personalised)", render::shown(subject)),
    }
}

/// Whether a rendered text holds a field's mark.
pub fn holds_field(text: &str) -> bool {
    text.chars().any(|c| render::field_of(c).is_some())
}

/// `one` or `many` by `n`: "1 story", "2 stories".
pub fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The first reader a send of `issue` would mail (for showing a
/// personalised subject as it goes out), if any; read only when the
/// subject holds a field.
pub fn first_reader(
    config: &Config,
    issue: &Issue,
    template: &Template,
    subject: &str,
) -> Option<Subscriber> {
    if !holds_field(subject) || !template.is_personal() {
        return None;
    }
    let snapshot = Snapshot::take(&config.newsletter.subscribers).ok()?;
    crate::deliver::plan::recipients(&snapshot, issue.audience.as_ref(), true)
        .ok()?
        .find_map(|e| match e {
            crate::deliver::plan::Entry::Due(s) => Some(s),
            _ => None,
        })
}

/// Refuses a send (or its dry-run) of the welcome issue to the whole
/// list: `serve` sends it to each new reader; `--to` makes a test copy.
pub fn refuse_welcome(config: &Config, args: &crate::cli::SendArgs) -> anyhow::Result<()> {
    let welcome = config.serve.as_ref().and_then(|s| s.welcome.as_ref());
    if args.to.is_none() && welcome.is_some_and(|w| same_file(w, &args.issue)) {
        anyhow::bail!(
            "{}: this is the welcome issue ([serve] welcome): serve sends it to each new reader; send it with --to for a test copy",
            args.issue.display()
        );
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What a send decided to send, as its log's `started` rows record it:
/// the template's fingerprint, with the audience.
pub fn send_fingerprint(template: &Template, issue: &Issue) -> String {
    match &issue.audience {
        None => template.fingerprint().to_owned(),
        Some(a) => format!("{}+audience({})", template.fingerprint(), a.describe()),
    }
}

/// Refuses to resume a log started for another issue or config, unless
/// `force`: the rest of the list would get a different issue.
pub fn refuse_changed(
    history: &crate::deliver::journal::History,
    fingerprint: &str,
    force: bool,
    issue: &Path,
    log: &Path,
) -> anyhow::Result<()> {
    if let Some(before) = &history.fingerprint
        && before != fingerprint
        && !force
    {
        anyhow::bail!(
            "{}: the issue or config changed since {} was started (fingerprint {before}, now {fingerprint}); \
             resuming would send the rest of the list a different issue. Pass --force to send it anyway",
            issue.display(),
            log.display()
        );
    }
    Ok(())
}

/// The issue rendered and its message template built: unsubscribe links
/// when the config has them, DKIM signing when it has a key. A real send
/// needs the unsubscribe secret (`need_secret`); a preview can do without.
///
/// An issue with per-reader fields is rendered once with marks where the
/// values go (`compose::personal`); a field that is no column of the list
/// is refused here, with its line.
pub fn prepare(
    config: &Config,
    issue: &Issue,
    need_secret: bool,
) -> anyhow::Result<(Rendered, Template)> {
    let (parts, template) = prepare_one(config, issue, need_secret)?;
    let mut translations = Vec::new();
    for t in &issue.translations {
        if t.lang == config.newsletter.lang {
            return Err(Diagnostics(vec![Diagnostic::new(
                &issue.file,
                Some(t.line),
                format!(
                    "[lang.{}] is the newsletter's own language (`[newsletter] lang = \"{}\"`): the issue itself is in it",
                    t.lang, config.newsletter.lang
                ),
            )])
            .into());
        }
        let (_, translated) = prepare_one(config, &issue.translated(t), need_secret)?;
        translations.push(translated.in_lang(t.lang.clone()));
    }
    Ok((parts, template.with_translations(translations)))
}

/// The parts and template of one language of the issue.
fn prepare_one(
    config: &Config,
    issue: &Issue,
    need_secret: bool,
) -> anyhow::Result<(Rendered, Template)> {
    // Its local images at their published address (the one place that
    // decides it, for mail, previews and check alike).
    let mut issue = issue.clone();
    place_images(config, &mut issue)?;
    let issue = &issue;
    let personal = Personal::new(&config.newsletter, issue)?;
    let (newsletter, issue, personal) = match personal {
        None => (config.newsletter.clone(), issue.clone(), None),
        Some((personal, newsletter, skeleton)) => {
            let list = &config.newsletter.subscribers;
            // No list yet (a new newsletter's `serve`): the columns of the
            // list bulletin will create.
            let columns = match list.exists() {
                true => SubscriberFile::open(&Snapshot::take(list)?)?
                    .columns()
                    .clone(),
                false => crate::audience::subscribers::Columns::new_list(),
            };
            let names = FieldNames::new(&columns);
            let unknown = personal.unknown(&names, list);
            if !unknown.is_empty() {
                return Err(Diagnostics(unknown).into());
            }
            (newsletter, skeleton, Some((personal, names)))
        }
    };
    let (newsletter, issue) = (&newsletter, &issue);
    let unsubscribe = Unsubscriber::from_config(config, need_secret)?;
    // With [archive], every message links to the issue's page (one an
    // issue that stays out of the archive does not have).
    let online = config
        .archive
        .as_ref()
        .filter(|_| issue.archive)
        .map(|a| a.page_url_in(&issue.id, issue.lang.as_ref()));
    let parts = render::render_for(
        newsletter,
        issue,
        render::Place::Mail {
            unsubscribe: unsubscribe.is_some(),
            online: online.as_deref(),
        },
    )?;
    if let Some(why) = crate::compose::compliance::refusal(issue, &parts) {
        anyhow::bail!("{why}");
    }
    let dkim = match &config.dkim {
        Some(settings) => Some(crate::compose::dkim::load(settings)?),
        None => None,
    };
    let mut template = Template::new(newsletter, &issue.id, &parts, unsubscribe, dkim);
    if let Some(b) = &config.bounces {
        template = template.with_bounces(&b.address);
    }
    if let Some(sender) = &config.newsletter.sender_id {
        // The campaign is the issue; the audience names who it went to.
        let audience = match &issue.audience {
            None => "all".to_owned(),
            Some(a) => a
                .tags
                .iter()
                .cloned()
                .chain(a.exclude.iter().map(|t| format!("-{t}")))
                .collect::<Vec<_>>()
                .join("+"),
        };
        template = template.with_feedback_id(crate::compose::headers::feedback_id(
            &issue.id, &audience, sender,
        ));
    }
    if let Some((personal, names)) = personal {
        template = template.with_fields(personal, names);
    }
    Ok((parts, template))
}

/// "HTML 12345 bytes, text 2345 bytes", or "text only, 2345 bytes".
pub fn part_sizes(parts: &crate::compose::render::Rendered) -> String {
    match &parts.html {
        Some(html) => format!("HTML {} bytes, text {} bytes", html.len(), parts.text.len()),
        None => format!("text only, {} bytes", parts.text.len()),
    }
}

/// The readers whose fields cannot be filled in (a field used without
/// `default` is empty for them), found before anything is sent.
#[derive(Debug, Default)]
pub struct UnfilledReaders {
    /// The first `SHOWN`, each a `list:line: …` line.
    pub shown: Vec<Diagnostic>,
    pub count: u64,
}

impl UnfilledReaders {
    const SHOWN: usize = 20;

    /// Tries `sub`'s values; a reader they cannot be filled for is kept.
    pub fn check(&mut self, template: &Template, list: &Path, sub: &Subscriber) -> bool {
        // The reader's language's fields, when the issue is translated.
        let template = template.for_reader(sub.lang.as_ref());
        let to = Recipient {
            email: &sub.email,
            name: sub.name.as_ref(),
            row: sub.row.as_ref(),
        };
        match template.values(to) {
            Ok(_) => true,
            Err(why) => {
                self.add(list, sub, &why);
                false
            }
        }
    }

    pub fn add(&mut self, list: &Path, sub: &Subscriber, why: &crate::compose::personal::Unfilled) {
        self.count += 1;
        if self.shown.len() < Self::SHOWN {
            self.shown.push(Diagnostic::new(
                list,
                Some(sub.line as usize),
                format!("{}: {why}", sub.email),
            ));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each reader shown, then how many more.
    pub fn print(&self) {
        for d in &self.shown {
            eprintln!("{d}");
        }
        let more = self.count - self.shown.len() as u64;
        if more > 0 {
            eprintln!(
                "… and {} whose fields cannot be filled in",
                crate::count(more, "more reader", "more readers")
            );
        }
    }

    /// The one line that says why nothing was sent.
    pub fn refusal(&self) -> String {
        format!(
            "not sent: the fields of {} cannot be filled in; fill their rows or give each field a default ({{{{ name | default(\"reader\") }}}}), then run again. Nobody was mailed",
            crate::count(self.count, "reader", "readers")
        )
    }
}

/// The failed readers of a log grouped by reply (addresses masked: one
/// line per cause), and a loud warning for each cause that hit many of
/// the issue's `readers`.
pub fn print_failures(log: &Path, readers: u64) {
    match crate::deliver::journal::failures(log, crate::deliver::pace::reply_pattern) {
        Ok(groups) => {
            print_failure_groups(&groups);
            for w in loud_causes(&groups, readers) {
                eprintln!("{w}");
            }
        }
        Err(e) => eprintln!("{e}"),
    }
}

/// Failure groups, most common first, ten at most.
pub fn print_failure_groups(groups: &[crate::deliver::journal::FailureGroup]) {
    for g in groups.iter().take(10) {
        println!("    {} × {}", g.readers, g.reply);
    }
    if groups.len() > 10 {
        println!("    … and {} other replies", groups.len() - 10);
    }
}

/// A cause is loud when it hit more than 20 readers, or more than 2 % of
/// the issue's (and at least 2): then it is most likely about us, not
/// them, and the editor should hear of it whatever it did to the list.
pub fn is_loud(n: u64, readers: u64) -> bool {
    n > 20 || (n >= 2 && n * 50 > readers)
}

/// The warnings for the loud causes: "warning: 412 readers refused for
/// DMARC by gmail.com (…): …".
pub fn loud_causes(groups: &[crate::deliver::journal::FailureGroup], readers: u64) -> Vec<String> {
    groups
        .iter()
        .filter(|g| is_loud(g.readers, readers))
        .map(|g| {
            let by: Vec<String> = g
                .domains
                .iter()
                .take(3)
                .map(|(d, n)| if g.domains.len() > 1 { format!("{d} ({n})") } else { d.clone() })
                .collect();
            let more = if g.domains.len() > 3 {
                format!(" and {} more domains", g.domains.len() - 3)
            } else {
                String::new()
            };
            format!(
                "warning: {} readers refused for {} by {}{more}: \"{}\". Their status is unchanged; if this is about us (authentication, reputation, content), fix it and send with --retry-failed",
                g.readers,
                crate::deliver::refusal::reason(&g.reply),
                by.join(", "),
                g.reply
            )
        })
        .collect()
}
