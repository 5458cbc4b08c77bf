//! Small checked types shared by the config and the issue: built only by
//! their `parse`, trusted everywhere after.

use std::fmt;

/// One line of text with no control characters: a subject, a headline, a
/// name. CR or LF here would let a value break out of its email header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(String);

impl Line {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(match c {
                '\r' | '\n' => "contains a line break (CR/LF); it must be one line".into(),
                c => format!("contains the control character U+{:04X}", u32::from(c)),
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The list identifier of RFC 2919, such as `digest.example.org`: a label
/// and a domain the sender controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListId(String);

impl ListId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        let parts: Vec<&str> = s.split('.').collect();
        if !ok_chars || parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "{s:?} is not a list id: use a label and a domain you control, like \"digest.example.org\""
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rejects_cr_lf_and_control_characters() {
        assert!(Line::parse("Hello\r\nBcc: x@y.org").is_err());
        assert!(Line::parse("Hello\nthere").is_err());
        assert!(Line::parse("bell\u{7}").is_err());
        assert!(Line::parse("   ").is_err());
        assert_eq!(
            Line::parse("  Zoë Ōtsuka ").map(|l| l.0),
            Ok("Zoë Ōtsuka".into())
        );
    }

    #[test]
    fn list_id_needs_a_label_and_a_domain() {
        assert!(ListId::parse("digest.example.org").is_ok());
        assert!(ListId::parse("digest").is_err());
        assert!(ListId::parse("a..b").is_err());
        assert!(ListId::parse("a b.org").is_err());
        assert!(ListId::parse("<a.org>").is_err());
    }
}
