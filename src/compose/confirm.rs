//! The mail a web sign-up gets: one link to confirm (double opt-in). Like
//! an issue it has From, List-Id, a Message-ID, text and HTML parts and
//! a DKIM signature when configured, but no List-Unsubscribe: the reader
//! is not on the list yet.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use maud::html;

use crate::compose::dkim::Signer;
use crate::compose::message::ListIdHeader;
use crate::input::config::Newsletter;
use crate::input::email::{Email, ascii_domain};

/// The confirmation mail to `to`, whose link is `link`, as bytes for the
/// wire (signed when `dkim` is given). It is addressed to the bare
/// address: a name typed into the form is a stranger's text, and never
/// goes out under our signed domain.
pub fn build(
    newsletter: &Newsletter,
    to: &Email,
    link: &str,
    date: SystemTime,
    dkim: Option<&Signer>,
) -> Result<Vec<u8>, String> {
    let title = newsletter.name.as_str();
    let text = format!(
        "Please confirm your subscription to {title}.\n\n\
         Open this link and press \"Confirm\":\n\n{link}\n\n\
         If you did not ask for this, ignore this mail: without a\n\
         confirmation you will not be subscribed.\n"
    );
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Confirm your subscription" } }
            body style="font-family: Georgia, serif; max-width: 600px; margin: 0 auto; padding: 16px;" {
                p { "Please confirm your subscription to " strong { (title) } "." }
                p { a href=(link) { "Confirm my subscription" } }
                p style="color: #555;" {
                    "If you did not ask for this, ignore this mail: without a confirmation you will not be subscribed."
                }
            }
        }
    };
    let from = Mailbox::new(
        newsletter.from.name.clone(),
        ascii_domain(&newsletter.from.email).into_owned(),
    );
    let domain = from.email.domain().to_owned();
    let id = format!("<confirm.{:032x}@{domain}>", fastrand::u128(..));
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to.envelope().into_owned()))
        .subject(format!("Confirm your subscription to {title}"))
        .date(date)
        .message_id(Some(id))
        .header(ListIdHeader(format!("<{}>", newsletter.list_id)))
        .multipart(MultiPart::alternative_plain_html(text, page.into_string()))
        .map_err(|e| e.to_string())?
        .formatted();
    match dkim {
        Some(signer) => signer.sign(&message, date),
        None => Ok(message),
    }
}
