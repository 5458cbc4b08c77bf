//! A TOML input file read strictly: deserialise, then check each value and
//! collect every problem at its line, so `check` can list them all at once.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::input::checked::Line;
use crate::input::diagnostic::{self, Diagnostic, Diagnostics};
use crate::input::fields::{self, FieldText, Spot};
use crate::input::markdown::Markdown;

pub struct TomlFile {
    pub path: PathBuf,
    pub src: String,
    problems: Vec<Diagnostic>,
}

impl TomlFile {
    pub fn read(path: &Path) -> Result<Self, Diagnostics> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::InvalidData {
                "is not UTF-8 text".to_owned()
            } else {
                format!("cannot be read: {e}")
            };
            Diagnostics(vec![Diagnostic::new(path, None, why)])
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            src,
            problems: Vec::new(),
        })
    }

    /// Unknown keys, missing keys and wrong types come back here, with the
    /// line and column toml found them at.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Diagnostics> {
        toml::from_str(&self.src)
            .map_err(|e| Diagnostics(vec![diagnostic::from_toml(&self.path, &self.src, &e)]))
    }

    pub fn problem_at(&mut self, offset: usize, message: impl Into<String>) {
        let line = diagnostic::line_col(&self.src, offset).0;
        self.problems
            .push(Diagnostic::new(&self.path, Some(line), message));
    }

    /// The file's line of byte `offset` within the string `value`.
    pub fn line_in(&self, value: &Spanned<String>, offset: usize) -> usize {
        let text = value.get_ref();
        let lines_in = text[..offset.min(text.len())].matches('\n').count();
        diagnostic::line_in_value(&self.src, &value.span(), lines_in)
    }

    /// A problem at line `line`.
    pub fn problem_on_line(&mut self, line: usize, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(&self.path, Some(line), message));
    }

    pub fn line(&mut self, key: &str, value: &Spanned<String>) -> Option<Line> {
        Line::parse(value.get_ref())
            .map_err(|why| self.problem_at(value.span().start, format!("`{key}` {why}")))
            .ok()
    }

    pub fn optional_line(&mut self, key: &str, value: Option<&Spanned<String>>) -> Option<Line> {
        value.and_then(|v| self.line(key, v))
    }

    /// Markdown with each bad link reported at its own line.
    pub fn markdown(&mut self, key: &str, value: &Spanned<String>) -> Option<Markdown> {
        match Markdown::parse(value.get_ref()) {
            Ok(md) => Some(md),
            Err(errors) => {
                let text = value.get_ref();
                for e in errors {
                    let lines_in = text[..e.offset].matches('\n').count();
                    let line = diagnostic::line_in_value(&self.src, &value.span(), lines_in);
                    self.problems.push(Diagnostic::new(
                        &self.path,
                        Some(line),
                        format!("`{key}`: {}", e.message),
                    ));
                }
                None
            }
        }
    }

    /// The fields `value` holds (`None` when it holds none), or `None`
    /// after reporting each problem at its line.
    pub fn fields(
        &mut self,
        spot: Spot,
        key: &'static str,
        value: &Spanned<String>,
    ) -> Option<Option<FieldText>> {
        let (src, span) = (&self.src, value.span());
        let checked = fields::check(spot, key, value.get_ref(), &self.path, |i| {
            diagnostic::line_in_value(src, &span, i)
        });
        match checked {
            Ok(found) => Some(found),
            Err(problems) => {
                for (i, message) in problems {
                    let line = diagnostic::line_in_value(&self.src, &value.span(), i);
                    self.problems
                        .push(Diagnostic::new(&self.path, Some(line), message));
                }
                None
            }
        }
    }

    /// The checked value, or every problem found.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Diagnostics> {
        match value {
            Some(v) if self.problems.is_empty() => Ok(v),
            _ => Err(Diagnostics(self.problems)),
        }
    }
}
