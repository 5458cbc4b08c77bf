//! `bulletin send --to ADDRESS`: one test copy of the issue, through the
//! configured server, logged nowhere; an issue with fields is filled from
//! the address's own row when it is on the list, and a translated issue
//! is in that row's language.

use std::path::Path;

use anyhow::bail;

use crate::Outcome;
use crate::audience::details::reader_of;
use crate::audience::subscribers::{Snapshot, Subscriber};
use crate::compose::message::Recipient;
use crate::deliver::Context;
use crate::deliver::smtp::Failure;
use crate::input::email::Email;

/// The reader `email` on the list, with their details as a send sees
/// them (`audience::details`).
fn own_row(list: &Path, email: &Email) -> anyhow::Result<Option<Subscriber>> {
    if !list.exists() {
        return Ok(None);
    }
    let snapshot = Snapshot::take(list)?;
    Ok(reader_of(&snapshot, email)?.map(|(_, s, _)| s))
}

pub(crate) async fn send(ctx: &Context, list: &Path, address: &str) -> anyhow::Result<Outcome> {
    let email = Email::parse(address).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    // An issue with fields: the address's own row when it is on the list,
    // else each field's default (or nothing).
    // A translated issue: the address's language, when it is on the list.
    let translated = ctx.template.langs().len() > 1;
    let on_list = match ctx.template.is_personal() || translated {
        true => own_row(list, &email)?,
        false => None,
    };
    let template = ctx
        .template
        .for_reader(on_list.as_ref().and_then(|s| s.lang.as_ref()));
    if ctx.template.is_personal() {
        match &on_list {
            Some(s) => println!("Fields from line {} of {}.", s.line, list.display()),
            None => println!(
                "{email} is not on {}: each field shows its default, or nothing.",
                list.display()
            ),
        }
    }
    let to = Recipient {
        email: &email,
        name: on_list.as_ref().and_then(|s| s.name.as_ref()),
        row: on_list.as_ref().and_then(|s| s.row.as_ref()),
    };
    // A new id for every test copy: a receiver that saw one id before
    // (an earlier copy, or the reader's real one) may drop the message.
    let id = template.test_copy_id(&email);
    // Its subject marked `[Test]`, so it is never taken for the issue.
    let values = template
        .values(to)
        .map_err(|why| anyhow::anyhow!("test copy to {email} not built: {why}"))?;
    let subject = format!("[Test] {}", template.subject_for(&values));
    let bytes = template.build_message(to, ctx.date.get(), id, &values, subject)?;
    // Its subject as this address gets it.
    let shown = crate::commands::subject_for_editor(&template.subject_source(), template, Some(to));
    // A test copy counts toward the relay's daily limit like any mail.
    let quota = &ctx.relays[0].quota;
    if let Err(room) = quota.take(crate::clock()) {
        bail!(
            "test copy to {email} not sent: {}'s daily limit is used until {}",
            ctx.relays[0].name,
            crate::deliver::fleet::clock_time(room, crate::clock())
        );
    }
    let mut conn = match ctx.server().connect().await {
        Ok(conn) => conn,
        Err(f) => {
            quota.give_back();
            return Err(match f {
                // Both name the relay already.
                Failure::Unreachable { detail } | Failure::Fatal { detail } => {
                    anyhow::anyhow!("{detail}")
                }
                f => anyhow::anyhow!("{}: {f}", ctx.server().describe()),
            });
        }
    };
    let result = conn
        .send(
            ctx.server(),
            ctx.template.from_address(),
            &email.envelope(),
            async { Ok(bytes) },
            async { Ok(()) },
        )
        .await;
    conn.quit(ctx.server()).await;
    match result {
        Ok(reply) => {
            println!("Test copy of {shown} sent to {email}: {reply}");
            Ok(Outcome::Success)
        }
        Err(f) => {
            if !matches!(f, Failure::Dropped { .. }) {
                quota.give_back();
            }
            bail!("test copy to {email} not sent: {f}")
        }
    }
}
