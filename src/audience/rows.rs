//! The list's rows as every reader of the list reads them: one line, one
//! row. A quoted field may not run past its line (bulletin never writes a
//! line break into a field), so a damaged line (an open quote from a torn
//! write or a hand edit) spoils itself only, never the rows after it: the
//! planner, `serve`'s running view, `check`, `list`, `--compact`, imports
//! and `bounces` all see the same rows.

use std::io::{self, BufRead, BufReader, Read};

/// What is wrong with a line as a whole (a field's content is judged by
/// the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// A quoted field is not closed on its line.
    OpenQuote,
    /// The file's last line, without its line break and not a whole row:
    /// a write that stopped part-way. Also such a line once bulletin has
    /// ended it (`ended_mark`), so it stays what it was for every reader.
    Unfinished,
}

/// Whether `raw` ends with `ended_mark(width)` (without making one: this
/// is asked of every line).
fn ends_with_mark(raw: &[u8], width: usize) -> bool {
    let width = width.max(1);
    raw.len() > width
        && raw[raw.len() - width..].iter().all(|b| *b == b',')
        && raw[raw.len() - width - 1] == b'"'
}

/// What bulletin appends to end an unfinished last line before the next
/// row (`repair::repair_end`), for a list whose header has `width` fields:
/// a quote and `width` commas. The list is only ever appended to, so the
/// fragment stays; this keeps it damaged under any CSV reader's rules (a
/// quote left open, or more fields than the header), and lets ours name
/// it for what it is.
pub fn ended_mark(width: usize) -> Vec<u8> {
    let mut mark = vec![b'"'];
    mark.resize(width.max(1) + 1, b',');
    mark
}

impl Damage {
    pub fn describe(self) -> &'static str {
        match self {
            Damage::OpenQuote => {
                "has a quote that is not closed on its line (a field may not hold a line break)"
            }
            Damage::Unfinished => {
                "is unfinished (a write stopped part-way through it; bulletin ended it with \",,…\")"
            }
        }
    }
}

/// One line of the list, split into fields.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// The line in the file, 1-based (the header is line 1).
    pub line: u64,
    /// The line as it is in the file, without its line break.
    pub raw: Vec<u8>,
    /// Whether the line ended in a line break.
    pub terminated: bool,
    pub damage: Option<Damage>,
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl Row {
    /// How many fields the line has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`'s bytes, unquoted.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.fields[start..end])
    }

    /// Field `i` as text, trimmed; `None` when absent or not UTF-8.
    pub fn text(&self, i: usize) -> Option<&str> {
        self.get(i)
            .and_then(|f| std::str::from_utf8(f).ok())
            .map(str::trim)
    }

    /// Every field as text (lossy), for a rewrite.
    pub fn strings(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| String::from_utf8_lossy(self.get(i).unwrap_or_default()).into_owned())
            .collect()
    }
}

/// Reads a list line by line. Blank lines are skipped (and counted); a
/// UTF-8 byte-order mark at the start and CR before LF are taken off.
pub struct RowReader<R> {
    src: BufReader<R>,
    line: u64,
    started: bool,
    /// The header's width, once known: an unfinished last line is judged
    /// by it.
    width: Option<usize>,
    core: csv_core::Reader,
}

impl<R: Read> RowReader<R> {
    pub fn new(inner: R) -> Self {
        Self::starting_at(inner, 1, false)
    }

    /// For bytes that start at line `line` of the file (a tail read after
    /// an append); `started` when they are not the file's start.
    pub fn starting_at(inner: R, line: u64, started: bool) -> Self {
        Self {
            src: BufReader::with_capacity(1 << 16, inner),
            line: line.saturating_sub(1),
            started,
            width: None,
            core: csv_core::Reader::new(),
        }
    }

    /// Sets the header's width, for a reader that did not read the header.
    pub fn set_width(&mut self, width: usize) {
        self.width = Some(width);
    }

    /// The next non-blank line into `row`; `false` at the end.
    pub fn read(&mut self, row: &mut Row) -> io::Result<bool> {
        loop {
            row.raw.clear();
            let n = self.src.read_until(b'\n', &mut row.raw)?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            row.line = self.line;
            row.terminated = row.raw.last() == Some(&b'\n');
            if row.terminated {
                row.raw.pop();
                if row.raw.last() == Some(&b'\r') {
                    row.raw.pop();
                }
            }
            if !self.started {
                self.started = true;
                if row.raw.starts_with(b"\xef\xbb\xbf") {
                    row.raw.drain(..3);
                }
            }
            if row.raw.iter().all(|b| *b == b'\r') {
                continue;
            }
            self.split(row);
            if let Some(w) = self.width
                && ends_with_mark(&row.raw, w)
            {
                row.damage = Some(Damage::Unfinished);
            }
            if self.width.is_none() {
                self.width = Some(row.len());
            } else if !row.terminated
                && row.damage.is_none()
                && self.width.is_some_and(|w| w != row.len())
            {
                row.damage = Some(Damage::Unfinished);
            }
            return Ok(true);
        }
    }

    /// Splits `row.raw` into fields; an open quote marks it damaged (its
    /// fields then are what was read up to the line's end).
    fn split(&mut self, row: &mut Row) {
        use csv_core::ReadRecordResult::*;
        row.fields.clear();
        row.ends.clear();
        row.damage = None;
        if row.fields.capacity() < row.raw.len() + 16 {
            row.fields.reserve(row.raw.len() + 16);
        }
        self.core.reset();
        let mut input: &[u8] = &row.raw;
        let mut fed_newline = false;
        let (mut nout_total, mut nend_total) = (0usize, 0usize);
        loop {
            if row.fields.len() < nout_total + row.raw.len() + 16 {
                row.fields.resize(nout_total + row.raw.len() + 16, 0);
            }
            if row.ends.len() < nend_total + 8 {
                row.ends.resize(nend_total + 8, 0);
            }
            let (result, nin, nout, nend) = self.core.read_record(
                input,
                &mut row.fields[nout_total..],
                &mut row.ends[nend_total..],
            );
            input = &input[nin..];
            nout_total += nout;
            nend_total += nend;
            match result {
                InputEmpty if !input.is_empty() => {}
                InputEmpty if !fed_newline => {
                    fed_newline = true;
                    input = b"\n";
                }
                InputEmpty if row.damage.is_none() => {
                    // The line break went into a quoted field: the quote
                    // is open. Empty input is the end: what was read so
                    // far stands as the fields.
                    row.damage = Some(Damage::OpenQuote);
                    input = b"";
                }
                OutputFull | OutputEndsFull => {}
                InputEmpty | Record | End => break,
            }
        }
        row.fields.truncate(nout_total);
        row.ends.truncate(nend_total);
        if row.damage.is_some()
            && let Some(last) = row.ends.last_mut()
            && *last > 0
            && row.fields.get(*last - 1) == Some(&b'\n')
        {
            *last -= 1;
            row.fields.truncate(*last);
        }
        if row.damage == Some(Damage::OpenQuote) && !row.terminated {
            row.damage = Some(Damage::Unfinished);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<(u64, Vec<String>, Option<Damage>)> {
        let mut reader = RowReader::new(text.as_bytes());
        let mut row = Row::default();
        let mut out = Vec::new();
        while reader.read(&mut row).expect("read") {
            out.push((row.line, row.strings(), row.damage));
        }
        out
    }

    #[test]
    fn a_line_is_a_row_and_quotes_work_within_it() {
        let got =
            rows("\u{feff}email,name\r\na@x.org,\"Lee, Ann\"\r\n\r\nb@x.org,\"say \"\"hi\"\"\"\n");
        assert_eq!(
            got,
            vec![
                (1, vec!["email".into(), "name".into()], None),
                (2, vec!["a@x.org".into(), "Lee, Ann".into()], None),
                (4, vec!["b@x.org".into(), "say \"hi\"".into()], None),
            ]
        );
    }

    #[test]
    fn an_open_quote_spoils_its_own_line_only() {
        let got =
            rows("email,name,status\nann@example.org,\"Lee, An\nalice@example.org,,unsubscribed\n");
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1[0], "ann@example.org");
        assert_eq!(got[1].2, Some(Damage::OpenQuote));
        assert_eq!(
            got[2],
            (
                3,
                vec![
                    "alice@example.org".into(),
                    String::new(),
                    "unsubscribed".into()
                ],
                None
            )
        );
    }

    #[test]
    fn a_last_line_without_its_line_break_is_unfinished_unless_it_is_whole() {
        let got = rows("email,name,status\nann@x.org,Ann,subscribed");
        assert_eq!(got[1].2, None);
        let got = rows("email,name,status\nann@x.org,An");
        assert_eq!(got[1].2, Some(Damage::Unfinished));
        let got = rows("email,name,status\nann@x.org,\"An");
        assert_eq!(got[1].2, Some(Damage::Unfinished));
        // A short row with its line break is a row (a hand-written list).
        let got = rows("email,name,status\nann@x.org\n");
        assert_eq!(got[1].2, None);
        assert_eq!(got[1].1, vec!["ann@x.org".to_owned()]);
    }

    #[test]
    fn a_line_bulletin_ended_stays_damaged_whatever_the_fragment() {
        // Inside a quote, after one, mid-field, after a separator, at the
        // start of a field's quote: every fragment ended with the mark is
        // damaged, for our reader and by plain CSV rules alike.
        for fragment in [
            "ann@x.org,\"Lee, An",
            "ann@x.org,\"Lee\"",
            "ann@x.org,An",
            "ann@x.org,",
            "ann@x.org,\"",
            "ann@x.org,Ann,unsubscr",
            "ann@x",
        ] {
            let mark = String::from_utf8(ended_mark(4)).expect("ascii");
            let text = format!("email,name,status,changed\n{fragment}{mark}\nbo@x.org,,,\n");
            let got = rows(&text);
            assert_eq!(got[1].2, Some(Damage::Unfinished), "{fragment:?}");
            assert_eq!(got[2].2, None, "{fragment:?}: the next row is whole");
            let mut plain = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            let first = plain.records().next().expect("a row");
            // Plain CSV lets a quote run on past the line: then it is
            // not a row of that line either.
            let damaged = |r: &csv::StringRecord| r.len() > 4 || r.iter().any(|f| f.contains('\n'));
            assert!(
                first.as_ref().map_or(true, damaged),
                "{fragment:?} reads whole: {first:?}"
            );
        }
    }

    #[test]
    fn long_lines_and_many_fields_are_read_whole() {
        let long = "x".repeat(100_000);
        let many = vec!["f"; 300].join(",");
        let text = format!("a,b\n{long},\"{long}\"\n{many}\n");
        let got = rows(&text);
        assert_eq!(got[1].1, vec![long.clone(), long]);
        assert_eq!(got[2].1.len(), 300);
    }
}
