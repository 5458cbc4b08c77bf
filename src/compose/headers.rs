//! The headers bulletin adds to a message beside lettre's own: the list's
//! (RFC 2919, RFC 2369, RFC 8058), `Precedence`, and Gmail's Feedback-ID.

use lettre::message::header::{Header, HeaderName, HeaderValue};

use crate::input::config::Newsletter;

macro_rules! text_header {
    ($ty:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        pub(crate) struct $ty(pub(crate) String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok(Self(s.to_owned()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListIdHeader, "List-Id");
text_header!(PrecedenceHeader, "Precedence");
text_header!(ListUnsubscribeHeader, "List-Unsubscribe");
text_header!(ListUnsubscribePostHeader, "List-Unsubscribe-Post");
text_header!(FeedbackIdHeader, "Feedback-ID");
text_header!(ContentLanguageHeader, "Content-Language");

/// `"Name" <list.id>` (RFC 2919). A non-ASCII name is left out rather than
/// encoded: the label is optional, the id is what filters match.
pub(crate) fn list_id_value(newsletter: &Newsletter) -> String {
    let name = newsletter.name.as_str();
    if name.is_ascii() {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{}>", newsletter.list_id)
    } else {
        format!("<{}>", newsletter.list_id)
    }
}

/// Gmail's `Feedback-ID` (its Postmaster Tools group complaints by it):
/// `<issue>:<audience>:bulletin:<sender_id>`, each field of letters,
/// digits, `.`, `_`, `-` and `+` only (`:` separates them).
pub fn feedback_id(issue_id: &str, audience: &str, sender_id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}:{}:bulletin:{}",
        clean(issue_id),
        clean(audience),
        clean(sender_id)
    )
}
