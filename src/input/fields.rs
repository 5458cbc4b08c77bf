//! Per-reader fields in the text of an issue, `{{ name }}` or
//! `{{ first_name | default("reader") }}`: which values may hold them, each
//! such value's source and file lines, and its syntax checked where it is
//! read. Filling them in is `compose::personal`'s.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

/// Where a text that may hold fields sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spot {
    Subject,
    Preheader,
    Intro,
    /// The story's headline, by the story's index.
    Headline(usize),
    Body(usize),
    /// `[newsletter] about`, in the config.
    About,
}

/// A value that holds fields: its source as written and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldText {
    pub spot: Spot,
    /// The key as the editor wrote it (`intro`, `body`), for messages.
    pub key: &'static str,
    pub source: String,
    /// The file it is in (the issue, or the config for `about`).
    pub path: PathBuf,
    /// The file's line of each line of the source.
    pub lines: Vec<usize>,
}

impl FieldText {
    /// The file line of the source's line `n` (1-based, as minijinja
    /// counts).
    pub fn file_line(&self, n: usize) -> usize {
        let i = n.saturating_sub(1).min(self.lines.len().saturating_sub(1));
        self.lines.get(i).copied().unwrap_or(0)
    }

    /// The template's name in the environment: unique per spot.
    pub fn name(&self) -> String {
        match self.spot {
            Spot::Subject => "subject".into(),
            Spot::Preheader => "preheader".into(),
            Spot::Intro => "intro".into(),
            Spot::Headline(i) => format!("story {} headline", i + 1),
            Spot::Body(i) => format!("story {} body", i + 1),
            Spot::About => "about".into(),
        }
    }

    /// The file line of the first place `field` is used (a line of the
    /// source naming it inside `{{ … }}`), else the value's first line.
    pub fn line_of(&self, field: &str) -> usize {
        let named = |line: &str| {
            line.split("{{").skip(1).any(|expr| {
                let expr = expr.split("}}").next().unwrap_or("");
                expr.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == field)
            })
        };
        let n = self.source.lines().position(named).map_or(1, |i| i + 1);
        self.file_line(n)
    }
}

/// Characters bulletin keeps to mark where each field's value goes while
/// the issue is rendered once for every reader (Supplementary Private Use
/// Area-A): an issue may not hold them itself.
pub const MARKS: std::ops::RangeInclusive<char> = '\u{F0000}'..='\u{FFFFD}';

/// Whether `text` holds template syntax at all. Text without it is left
/// alone: an issue without fields costs what it always did.
pub fn has_fields(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The environment every field is rendered in: minijinja's built-in
/// filters (`default`, `upper`, `title`, `trim`…), and a field that is not
/// defined is an error unless `default` fills it (`strict`), or empty on
/// an archive page and a test copy that stands for no reader.
pub fn environment(strict: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(if strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Lenient
    });
    // No auto-escaping here: a value is escaped where it lands (HTML in
    // the HTML part, as typed in the text part and the subject), after
    // the Markdown around it was rendered, so it is never read as either.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Checks a value that may hold fields: `None` when it holds none, else
/// its `FieldText`, or the problems found, each with its line in the
/// value (0-based) and a message.
pub fn check(
    spot: Spot,
    key: &'static str,
    source: &str,
    path: &Path,
    lines: impl Fn(usize) -> usize,
) -> Result<Option<FieldText>, Vec<(usize, String)>> {
    if let Some((i, _)) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.chars().any(|c| MARKS.contains(&c)))
    {
        return Err(vec![(
            i,
            format!(
                "`{key}` holds a character of U+F0000–U+FFFFD, which bulletin keeps for fields"
            ),
        )]);
    }
    if !has_fields(source) {
        return Ok(None);
    }
    if let Some((i, c)) = source.lines().enumerate().find_map(|(i, l)| {
        l.chars()
            .find(|c| c.is_control() && *c != '\t' && *c != '\r')
            .map(|c| (i, c))
    }) {
        return Err(vec![(
            i,
            format!("`{key}` holds the control character U+{:04X}", u32::from(c)),
        )]);
    }
    if let Some(i) = source.lines().position(|l| l.contains("{%")) {
        return Err(vec![(
            i,
            format!(
                "`{key}`: `{{% … %}}` blocks are not supported; use {{{{ field }}}} or {{{{ field | default(\"…\") }}}} (and {{{{ \"{{{{\" }}}} for literal braces)"
            ),
        )]);
    }
    let env = environment(true);
    if let Err(e) = env.template_from_str(source) {
        let line = e.line().unwrap_or(1).saturating_sub(1);
        return Err(vec![(line, format!("`{key}`: {}", describe(&e)))]);
    }
    Ok(Some(FieldText {
        spot,
        key,
        source: source.to_owned(),
        path: path.to_path_buf(),
        lines: (0..source.lines().count().max(1)).map(lines).collect(),
    }))
}

/// minijinja's message without its "(in <name>:line)" tail: the caller
/// names the file and line.
pub fn describe(e: &minijinja::Error) -> String {
    let kind = match e.kind() {
        minijinja::ErrorKind::SyntaxError => "syntax error in a field",
        minijinja::ErrorKind::UndefinedError => "a field has no value",
        minijinja::ErrorKind::UnknownFilter => "unknown filter",
        minijinja::ErrorKind::UnknownFunction => "unknown function",
        _ => "cannot fill in a field",
    };
    match e.detail() {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_owned(),
    }
}

/// A list column's header as a field's name: lower case, spaces as `_`
/// (`First Name` is `first_name`).
pub fn field_name(header: &str) -> String {
    header.trim().to_lowercase().replace(' ', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(src: &str) -> Result<Option<FieldText>, Vec<(usize, String)>> {
        check(Spot::Intro, "intro", src, Path::new("i.toml"), |i| i + 10)
    }

    #[test]
    fn plain_text_holds_no_fields_and_fields_keep_their_lines() {
        assert_eq!(checked("Hello, world."), Ok(None));
        let f = checked("Hi\n{{ name }}\nand {{ email }}")
            .expect("valid")
            .expect("fields");
        assert_eq!(f.lines, vec![10, 11, 12]);
        assert_eq!(f.line_of("email"), 12);
        assert_eq!(f.line_of("name"), 11);
        assert_eq!(f.line_of("nobody"), 10);
    }

    #[test]
    fn blocks_syntax_errors_and_marks_are_refused_at_their_line() {
        let e = checked("a\nb {% if name %}x{% endif %}").expect_err("block");
        assert_eq!(e[0].0, 1);
        let e = checked("a\n\nb {{ name").expect_err("syntax");
        assert!(e[0].1.contains("syntax error"), "{e:?}");
        let e = checked("x \u{F0001}").expect_err("mark");
        assert_eq!(e[0].0, 0);
    }

    #[test]
    fn headers_become_field_names() {
        assert_eq!(field_name(" First Name "), "first_name");
        assert_eq!(field_name("City"), "city");
    }
}
