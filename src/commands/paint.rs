//! Colour in what bulletin itself says on stderr: `error:` in red and
//! `warning:` in yellow, bold, when stderr is a terminal and `NO_COLOR`
//! is not set (<https://no-color.org>); plain text otherwise, so logs and
//! pipes get no escape codes.

use std::io::IsTerminal;

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const RESET: &str = "\x1b[0m";

/// Whether stderr takes colour.
pub fn wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// `line` with its first `error:` or `warning:` coloured, when `colour`.
pub fn marked(line: &str, colour: bool) -> String {
    if !colour {
        return line.to_owned();
    }
    for (mark, code) in [("error:", RED), ("warning:", YELLOW)] {
        if let Some(at) = line.find(mark) {
            let (before, rest) = line.split_at(at);
            return format!("{before}{code}{mark}{RESET}{}", &rest[mark.len()..]);
        }
    }
    line.to_owned()
}

/// Prints `line` on stderr, coloured as `marked` says.
pub fn say(line: &dyn std::fmt::Display) {
    eprintln!("{}", marked(&line.to_string(), wanted()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mark_is_coloured_and_only_when_asked() {
        assert_eq!(
            marked("a.toml:3: warning: x", true),
            "a.toml:3: \x1b[1;33mwarning:\x1b[0m x"
        );
        assert_eq!(marked("error: y", true), "\x1b[1;31merror:\x1b[0m y");
        assert_eq!(marked("error: y", false), "error: y");
        assert_eq!(marked("plain", true), "plain");
    }
}
