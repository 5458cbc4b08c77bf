//! The mail a web sign-up gets: one link to confirm (double opt-in),
//! branded like an issue (masthead, one clear button, the link also as
//! text, dark mode, a text part). Like an issue it has From, List-Id, a
//! Message-ID and a DKIM signature when configured, but no
//! List-Unsubscribe: the reader is not on the list yet. It holds no text
//! the requester typed: anyone can sign up any address. It is written in
//! the language the sign-up was made in (`serve`'s words).

use std::time::{Duration, SystemTime};

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use maud::{DOCTYPE, Markup, html};

use crate::compose::dkim::Signer;
use crate::compose::headers::{ContentLanguageHeader, ListIdHeader};
use crate::compose::look::{mail_head, paint_mail};
use crate::compose::render::wrap;
use crate::input::config::Newsletter;
use crate::input::email::{Email, ascii_domain};
use crate::input::lang::Lang;
use crate::input::words::Words;
use crate::input::words::serve::{Say, sentences};

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

/// The mail's words, in the sign-up's language.
pub struct Said<'a> {
    pub lang: &'a Lang,
    pub words: &'a Words,
}

/// The text part, wrapped at 72 columns like an issue's.
fn text(newsletter: &Newsletter, said: &Said<'_>, link: &str, lasts: &str) -> String {
    let name = newsletter.name.as_str();
    let words = said.words;
    let named = [("name", name)];
    let para = |say: Say| wrap(&words.say_with(say, &named), "", "");
    let mut out = format!(
        "{name}\n{}\n\n{}\n\n{}\n{}\n\n{link}\n\n{}\n",
        "=".repeat(name.chars().count()),
        words.say(Say::ConfirmTitle),
        para(Say::MailAsked),
        para(Say::MailOpen),
        wrap(&words.say_with(Say::MailLasts, &[("lasts", lasts)]), "", ""),
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

fn page(newsletter: &Newsletter, said: &Said<'_>, link: &str, lasts: &str) -> Markup {
    let name = newsletter.name.as_str();
    let words = said.words;
    let named = [("name", name)];
    html! {
        (DOCTYPE)
        html lang=(said.lang) {
            (mail_head(&words.say_with(Say::MailSubject, &named), &paint_mail(CSS)))
            body {
                table role="presentation" class="outer" width="100%" cellpadding="0" cellspacing="0" border="0" {
                    tr { td align="center" {
                        table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" {
                            tr { td class="cell masthead" { h1 { (name) } } }
                            tr { td class="cell" {
                                h2 { (words.say(Say::ConfirmTitle)) }
                                p { (sentences(&words.say_with(Say::MailAsked, &named), words.say(Say::MailPress))) }
                                table role="presentation" class="button" cellpadding="0" cellspacing="0" border="0" {
                                    tr { td { a href=(link) { (words.say(Say::MailButton)) } } }
                                }
                                p { (words.say(Say::MailOrOpen)) br; a class="url" href=(link) { (link) } }
                                p { (words.say_with(Say::MailLasts, &[("lasts", lasts)])) }
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
    said: &Said<'_>,
    link: &str,
    lasts: Duration,
) -> Result<(String, String), String> {
    let lasts = said.words.lasting(lasts);
    let html = css_inline::CSSInliner::options()
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build()
        .inline(&page(newsletter, said, link, &lasts).into_string())
        .map_err(|e| e.to_string())?;
    Ok((text(newsletter, said, link, &lasts), html))
}

/// The confirmation mail to `to`, whose link is `link` and lasts `lasts`,
/// as bytes for the wire (signed when `dkim` is given), in the language
/// `said` gives. It is addressed to the bare address: a name typed into
/// the form is a stranger's text, and never goes out under our signed
/// domain.
pub fn build(
    newsletter: &Newsletter,
    said: &Said<'_>,
    to: &Email,
    link: &str,
    lasts: Duration,
    date: SystemTime,
    dkim: Option<&Signer>,
) -> Result<Vec<u8>, String> {
    let (text, html) = parts(newsletter, said, link, lasts)?;
    let from = Mailbox::new(
        newsletter.from.name.clone(),
        ascii_domain(&newsletter.from.email).into_owned(),
    );
    let domain = from.email.domain().to_owned();
    let id = format!("<confirm.{:032x}@{domain}>", fastrand::u128(..));
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to.envelope().into_owned()))
        .subject(
            said.words
                .say_with(Say::MailSubject, &[("name", newsletter.name.as_str())]),
        )
        .date(date)
        .message_id(Some(id))
        .header(ContentLanguageHeader(said.lang.to_string()))
        .header(ListIdHeader(format!("<{}>", newsletter.list_id)))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())?
        .formatted();
    match dkim {
        Some(signer) => signer.sign(&message, date),
        None => Ok(message),
    }
}
