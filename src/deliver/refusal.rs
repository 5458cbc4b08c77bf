//! What a permanent refusal is about, read the same way wherever one
//! comes from: a relay's reply during a send, or a delivery report in the
//! return mailbox. Only the reader's own mailbox is the reader's fault;
//! the rest (the sender, the content, reputation, the relay's policy) is
//! recorded and never changes anyone's status.

/// An enhanced status code (RFC 3463): class, subject, detail.
pub type Enhanced = (u8, u16, u16);

/// Parses `5.1.1` (and nothing else around it).
fn parse_enhanced(word: &str) -> Option<Enhanced> {
    let mut parts = word.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !digits(class, 1) || !digits(subject, 3) || !digits(detail, 3) {
        return None;
    }
    let class: u8 = class.parse().ok()?;
    matches!(class, 2 | 4 | 5).then_some((class, subject.parse().ok()?, detail.parse().ok()?))
}

/// The enhanced status code of a reply or diagnostic text: at its start
/// (after the basic code, if the text carries it: `550 5.1.1 …`), or in
/// qmail's trailing form `… (#5.1.1)`.
pub fn enhanced_code(text: &str) -> Option<Enhanced> {
    let text = text.trim();
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let lead = if first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit()) {
        // `550-5.1.1` in a multi-line reply's first line.
        words.next()
    } else {
        Some(first)
    };
    if let Some(code) = lead.and_then(|w| parse_enhanced(w.trim_end_matches([':', ',', ';']))) {
        return Some(code);
    }
    if let Some(rest) = first
        .get(4..)
        .filter(|_| first.as_bytes().get(3) == Some(&b'-'))
        && let Some(code) = parse_enhanced(rest)
    {
        return Some(code);
    }
    // qmail: "Sorry, no mailbox here by that name. (#5.1.1)"
    let open = text.rfind("(#")?;
    let close = text[open..].find(')')? + open;
    parse_enhanced(&text[open + 2..close])
}

/// Whose fault a permanent refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The reader's mailbox does not exist or is disabled: a hard bounce.
    Mailbox,
    /// The reader's mailbox is full (5.2.2): a soft bounce.
    Full,
    /// Our envelope sender or our right to relay: nothing would get
    /// through, so a send stops and nobody is marked.
    Sender,
    /// Content, reputation, policy, the relay or the network: recorded
    /// with its reason, never a change of status.
    Other,
    /// No enhanced code and nothing in the text that says more: fails
    /// that one message, never a change of status.
    Unclear,
}

/// Words that say the address has no mailbox behind it, for the replies
/// that carry only a generic code (5.0.0, 5.5.x).
const NO_SUCH_USER: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no mailbox here",
    "mailbox not found",
    "recipient unknown",
    "unknown recipient",
    "user not found",
    "recipient not found",
    "address does not exist",
    "mailbox does not exist",
    "user doesn't exist",
    "account does not exist",
];

/// Words that say the refusal is of our envelope sender or our right to
/// send through this relay.
const ABOUT_THE_SENDER: &[&str] = &[
    "sender address rejected",
    "sender rejected",
    "sender verify failed",
    "sender address is not",
    "relay access denied",
    "relaying denied",
    "relay not permitted",
    "not verified",
    "unverified sender",
    "authentication required",
];

/// What a refusal is about. `sender` is our envelope sender's base
/// address (`bounces@example.org`): a VERP address built on it, or it,
/// named in the text, makes an `x.1.0` (or any other address status) about
/// us. The code class is not looked at here: callers call this for
/// permanent refusals only.
pub fn blame(text: &str, sender: Option<&str>) -> Blame {
    let lower = text.to_ascii_lowercase();
    let code = enhanced_code(text);
    let names_us = sender.is_some_and(|s| names_sender(&lower, s));
    if ABOUT_THE_SENDER.iter().any(|w| lower.contains(w))
        || matches!(code, Some((_, 1, 7 | 8)))
        || (names_us && matches!(code, Some((_, 1, _)) | None))
    {
        return Blame::Sender;
    }
    let no_such_user = || NO_SUCH_USER.iter().any(|w| lower.contains(w));
    match code {
        Some((_, 1, 1 | 2 | 3 | 6 | 10)) | Some((_, 2, 1)) => Blame::Mailbox,
        Some((_, 0, 0)) | Some((_, 5, _)) if no_such_user() => Blame::Mailbox,
        Some((_, 2, 2)) => Blame::Full,
        Some(_) => Blame::Other,
        None => Blame::Unclear,
    }
}

/// Whether `lower` (a lower-cased reply) names our envelope sender:
/// `user@domain` itself or `user+anything@domain`.
fn names_sender(lower: &str, sender: &str) -> bool {
    let sender = sender.to_ascii_lowercase();
    let Some((user, domain)) = sender.rsplit_once('@') else {
        return false;
    };
    lower
        .split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | ';' | '(' | ')'))
        .filter_map(|w| w.trim_end_matches([':', '.']).rsplit_once('@'))
        .any(|(local, d)| {
            d == domain
                && (local == user
                    || local
                        .strip_prefix(user)
                        .is_some_and(|rest| rest.starts_with('+')))
        })
}

/// A reply with every address and every long hex run (VERP tokens,
/// message ids, queue ids) replaced by `…`: the same refusal for different
/// readers reads the same, so it can be counted as one cause.
pub fn mask(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&mask_word(word));
            word.clear();
        }
    };
    for c in detail.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')' | '[' | ']' | ',' | ';') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn mask_word(word: &str) -> String {
    let trailing = word.len() - word.trim_end_matches([':', '.']).len();
    let (core, tail) = word.split_at(word.len() - trailing);
    if core.contains('@') && core.len() > 1 {
        return format!("…{tail}");
    }
    let hexish = core.len() >= 10
        && core.bytes().all(|b| b.is_ascii_hexdigit())
        && core.bytes().any(|b| b.is_ascii_digit());
    if hexish {
        return format!("…{tail}");
    }
    word.to_owned()
}

/// A cause in a few words, for the warning about a refusal that hit many
/// readers: "refused for DMARC by gmail.com".
pub fn reason(detail: &str) -> &'static str {
    let lower = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    match enhanced_code(detail) {
        _ if has(&["dmarc"]) => "DMARC",
        _ if has(&["spf"]) => "SPF",
        _ if has(&["dkim"]) => "DKIM",
        _ if has(&[
            "spamhaus",
            "blocklist",
            "blacklist",
            "block list",
            "black list",
            "rbl",
            "dnsbl",
        ]) =>
        {
            "a blocklist"
        }
        _ if has(&["spam"]) => "looking like spam",
        _ if has(&["reputation", "rate limit", "too many"]) => "our reputation or rate",
        Some((_, 2, 2)) => "a full mailbox",
        Some((_, 3, 4)) | Some((_, 2, 3)) => "the message's size",
        Some((_, 1, 1 | 2 | 3 | 6 | 10)) | Some((_, 2, 1)) => "no such mailbox",
        Some((_, 6, _)) => "the message's content",
        Some((_, 7, _)) => "the receiver's policy",
        Some((_, 4, _)) => "routing",
        Some(_) => "another reason",
        None => "no stated reason",
    }
}

/// The domain of an address, lower-cased, for counting how many domains a
/// run of refusals spans.
pub fn domain_of(email: &str) -> String {
    email.rsplit_once('@').map_or("", |(_, d)| d).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_found_at_the_start_and_in_qmails_trailing_form() {
        assert_eq!(enhanced_code("5.7.1 Sender rejected"), Some((5, 7, 1)));
        assert_eq!(enhanced_code("550 5.1.1 <a@x.org>: no"), Some((5, 1, 1)));
        assert_eq!(enhanced_code("550-5.7.26 DMARC"), Some((5, 7, 26)));
        assert_eq!(enhanced_code("4.2.0"), Some((4, 2, 0)));
        assert_eq!(
            enhanced_code("Sorry, no mailbox here by that name. (#5.1.1)"),
            Some((5, 1, 1))
        );
        assert_eq!(
            enhanced_code("553 sorry, relaying denied (#5.7.1)"),
            Some((5, 7, 1))
        );
        assert_eq!(enhanced_code("Message rejected 5.7.1"), None);
        assert_eq!(enhanced_code("550 mailbox unavailable"), None);
        assert_eq!(enhanced_code("1.2.3 x"), None);
        assert_eq!(enhanced_code(""), None);
    }

    /// The table: only the reader's own mailbox is the reader's
    /// fault.
    #[test]
    fn only_a_mailbox_that_is_gone_blames_the_reader() {
        let us = Some("bounces@example.org");
        let table: &[(&str, Blame)] = &[
            (
                "550 5.1.1 <a@x.org>: Recipient address rejected: User unknown",
                Blame::Mailbox,
            ),
            ("5.1.2 bad destination system", Blame::Mailbox),
            ("5.1.3 bad syntax", Blame::Mailbox),
            ("5.1.6 mailbox has moved", Blame::Mailbox),
            ("5.1.10 null MX", Blame::Mailbox),
            ("5.2.1 account disabled", Blame::Mailbox),
            (
                "5.0.0 <a@x.org>: User unknown in virtual mailbox table",
                Blame::Mailbox,
            ),
            (
                "550 5.5.0 Requested action not taken: no such user here",
                Blame::Mailbox,
            ),
            (
                "Sorry, no mailbox here by that name. (#5.1.1)",
                Blame::Mailbox,
            ),
            ("5.0.0 rejected", Blame::Other),
            ("5.5.1 no valid recipients", Blame::Other),
            ("552 5.2.2 Mailbox full", Blame::Full),
            (
                "550 5.7.26 Unauthenticated email from example.org is not accepted due to DMARC",
                Blame::Other,
            ),
            (
                "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
                Blame::Other,
            ),
            ("552 5.3.4 Message too big for system", Blame::Other),
            ("5.4.4 no route", Blame::Other),
            ("5.6.0 bad content", Blame::Other),
            (
                "550 5.1.0 <bounces+0123456789abcdef0123456789abcdef@example.org>: Sender address rejected: User unknown in local recipient table",
                Blame::Sender,
            ),
            (
                "550 5.1.0 <bounces+ab12@example.org>: unknown",
                Blame::Sender,
            ),
            ("550 5.1.0 <a@x.org>: Address rejected", Blame::Other),
            ("550 5.1.7 bad sender mailbox syntax", Blame::Sender),
            ("553 5.1.8 sender domain does not exist", Blame::Sender),
            ("554 5.7.1 <r@x.org>: Relay access denied", Blame::Sender),
            (
                "554 Message rejected: Email address is not verified",
                Blame::Sender,
            ),
            (
                "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
                Blame::Other,
            ),
            ("550 mailbox unavailable", Blame::Unclear),
        ];
        for (text, want) in table {
            assert_eq!(blame(text, us), *want, "{text}");
        }
    }

    #[test]
    fn masking_takes_out_addresses_and_tokens_so_one_cause_reads_as_one() {
        let a = mask(
            "550 5.1.0 <bounces+0123456789abcdef0123456789abcdef@example.org>: Sender address rejected",
        );
        let b = mask(
            "550 5.1.0 <bounces+fedcba9876543210fedcba9876543210@example.org>: Sender address rejected",
        );
        assert_eq!(a, b);
        assert_eq!(a, "550 5.1.0 <…>: Sender address rejected");
        assert_eq!(
            mask("550 5.1.1 ann@x.org: no. queued as 3F2A19B0C4D"),
            "550 5.1.1 …: no. queued as …"
        );
        assert_eq!(mask("550 5.7.26 DMARC policy"), "550 5.7.26 DMARC policy");
        assert_eq!(domain_of("Ann@Example.ORG"), "example.org");
    }
}
