//! Problems found in an input file, reported as `path:line: message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one input file. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// Every problem found in one pass over the inputs; an input with any of
/// these is not used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = src[line_start..offset].chars().count() + 1;
    (line, col)
}

/// Turns a TOML deserialisation error into a diagnostic naming line, column
/// and, through toml's own message, the key.
pub fn from_toml(path: &Path, src: &str, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let (line, col) = line_col(src, span.start);
            Diagnostic::new(path, Some(line), format!("column {col}: {message}"))
        }
        None => Diagnostic::new(path, None, message),
    }
}

/// The source line of a position inside a TOML string value.
///
/// `span` is the value's span in the file (quotes included) and `lines_in` the
/// number of newlines in the parsed value before the position. A multi-line
/// string drops a newline right after its opening quotes, which is added
/// back here. Line-ending backslashes in basic strings can make the answer
/// early by the lines they join; the line is still the string's.
pub fn line_in_value(src: &str, span: &Range<usize>, lines_in: usize) -> usize {
    let raw = src.get(span.clone()).unwrap_or("");
    let opening = (raw.starts_with("\"\"\"") || raw.starts_with("'''"))
        && (raw[3..].starts_with('\n') || raw[3..].starts_with("\r\n"));
    line_col(src, span.start).0 + lines_in + usize::from(opening)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters_from_one() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, src.find('=').map_or(0, |_| 10)), (2, 4));
    }

    #[test]
    fn line_in_value_skips_the_newline_after_triple_quotes() {
        let src = "x = 1\nbody = \"\"\"\nfirst\nsecond\"\"\"\n";
        let start = src.find("\"\"\"").unwrap_or(0);
        let span = start..src.len() - 1;
        assert_eq!(line_in_value(src, &span, 0), 3);
        assert_eq!(line_in_value(src, &span, 1), 4);
    }

    #[test]
    fn diagnostic_displays_path_line_and_message() {
        let d = Diagnostic::new(Path::new("a.toml"), Some(3), "bad");
        assert_eq!(d.to_string(), "a.toml:3: bad");
    }
}
