//! The mail a web sign-up gets: one link to confirm (double opt-in),
//! branded like an issue (masthead, one clear button, the link also as
//! text, dark mode, a text part). Like an issue it has From, List-Id, a
//! Message-ID and a DKIM signature when configured, but no
//! List-Unsubscribe: the reader is not on the list yet. It holds no text
//! the requester typed: anyone can sign up any address.

use std::time::{Duration, SystemTime};

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use maud::{DOCTYPE, Markup, html};

use crate::compose::dkim::Signer;
use crate::compose::headers::ListIdHeader;
use crate::compose::look::{mail_head, paint_mail};
use crate::input::config::Newsletter;
use crate::input::email::{Email, ascii_domain};

/// Inlined by css-inline; the `@media` rule stays a stylesheet. Painted
/// from the one palette.
const CSS: &str = r#"
h1 { margin: 0; font-size: 28px; line-height: 1.2; color: $navy; }
h2 { margin: 0 0 12px 0; font-size: 20px; line-height: 1.3; color: $ink; }
p { margin: 0 0 12px 0; }
a { color: $link; }
.button { margin: 8px 0 20px 0; }
.button td { background-color: $navy; border-radius: 4px; }
.button a { display: inline-block; padding: 12px 24px; color: $on_button; font-weight: bold; text-decoration: none; }
.url { font-size: 14px; word-break: break-all; }
.footer { font-size: 13px; line-height: 1.5; color: $muted; background-color: $footer; }
@media (prefers-color-scheme: dark) {
  body, .outer { background-color: $d_page !important; }
  .container, .footer { background-color: $d_paper !important; }
  .cell, h2, .footer { color: $d_ink !important; }
  .masthead { border-bottom-color: $d_navy !important; }
  h1 { color: $d_navy !important; }
  a { color: $d_link !important; }
  .button td { background-color: $d_navy !important; }
  .button a { color: $d_on_button !important; }
}
"#;

/// "7 days", "36 hours", "1 day": how long a link lasts, as a reader
/// reads it.
pub fn lasting(d: Duration) -> String {
    let hours = d.as_secs() / 3600;
    let (n, unit) = if hours >= 48 && hours.is_multiple_of(24) {
        (hours / 24, "day")
    } else if hours >= 1 {
        (hours, "hour")
    } else {
        ((d.as_secs() / 60).max(1), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The text part.
fn text(newsletter: &Newsletter, link: &str, lasts: &str) -> String {
    let name = newsletter.name.as_str();
    let mut out = format!(
        "{name}\n{}\n\n\
         Confirm your subscription\n\n\
         Someone, we hope you, asked for this address to get {name} by mail.\n\
         To start getting it, open this link and press \"Confirm\":\n\n\
         {link}\n\n\
         The link works for {lasts}. If you did not ask for this, ignore this\n\
         mail: without a confirmation you will not be subscribed, and you\n\
         will get nothing more from us.\n",
        "=".repeat(name.chars().count())
    );
    if let Some(address) = &newsletter.postal_address {
        out.push_str("\n-- \n");
        for line in address {
            out.push_str(line.as_str());
            out.push('\n');
        }
    }
    out
}

fn page(newsletter: &Newsletter, link: &str, lasts: &str) -> Markup {
    let name = newsletter.name.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            (mail_head(&format!("Confirm your subscription to {name}"), &paint_mail(CSS)))
            body {
                table role="presentation" class="outer" width="100%" cellpadding="0" cellspacing="0" border="0" {
                    tr { td align="center" {
                        table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" {
                            tr { td class="cell masthead" { h1 { (name) } } }
                            tr { td class="cell" {
                                h2 { "Confirm your subscription" }
                                p { "Someone, we hope you, asked for this address to get " strong { (name) } " by mail. To start getting it, press the button and then “Confirm”." }
                                table role="presentation" class="button" cellpadding="0" cellspacing="0" border="0" {
                                    tr { td { a href=(link) { "Confirm my subscription" } } }
                                }
                                p { "Or open this link:" br; a class="url" href=(link) { (link) } }
                                p { "The link works for " (lasts) ". If you did not ask for this, ignore this mail: without a confirmation you will not be subscribed, and you will get nothing more from us." }
                            } }
                            @if let Some(address) = &newsletter.postal_address {
                                tr { td class="cell footer" {
                                    p {
                                        @for (i, line) in address.iter().enumerate() {
                                            @if i > 0 { br; }
                                            (line)
                                        }
                                    }
                                } }
                            }
                        }
                    } }
                }
            }
        }
    }
}

/// The mail's text and HTML parts (styles inlined) for `link`.
pub fn parts(
    newsletter: &Newsletter,
    link: &str,
    lasts: Duration,
) -> Result<(String, String), String> {
    let lasts = lasting(lasts);
    let html = css_inline::CSSInliner::options()
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build()
        .inline(&page(newsletter, link, &lasts).into_string())
        .map_err(|e| e.to_string())?;
    Ok((text(newsletter, link, &lasts), html))
}

/// The confirmation mail to `to`, whose link is `link` and lasts `lasts`,
/// as bytes for the wire (signed when `dkim` is given). It is addressed
/// to the bare address: a name typed into the form is a stranger's text,
/// and never goes out under our signed domain.
pub fn build(
    newsletter: &Newsletter,
    to: &Email,
    link: &str,
    lasts: Duration,
    date: SystemTime,
    dkim: Option<&Signer>,
) -> Result<Vec<u8>, String> {
    let (text, html) = parts(newsletter, link, lasts)?;
    let from = Mailbox::new(
        newsletter.from.name.clone(),
        ascii_domain(&newsletter.from.email).into_owned(),
    );
    let domain = from.email.domain().to_owned();
    let id = format!("<confirm.{:032x}@{domain}>", fastrand::u128(..));
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to.envelope().into_owned()))
        .subject(format!("Confirm your subscription to {}", newsletter.name))
        .date(date)
        .message_id(Some(id))
        .header(ListIdHeader(format!("<{}>", newsletter.list_id)))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())?
        .formatted();
    match dkim {
        Some(signer) => signer.sign(&message, date),
        None => Ok(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_lasts_as_a_reader_says_it() {
        assert_eq!(lasting(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(lasting(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(lasting(Duration::from_secs(3600)), "1 hour");
        assert_eq!(lasting(Duration::from_secs(90)), "1 minute");
    }
}
