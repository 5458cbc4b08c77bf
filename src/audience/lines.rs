//! Line numbers as an editor sees them, for the csv reader: a reader in
//! between that counts the line breaks it passes on.

use std::io::{self, Read};

/// Line numbers as an editor sees them, counted under the csv reader:
/// csv's own count is one short after a CRLF line end and does not count
/// the blank lines it skips before a record.
pub struct Lines<R> {
    inner: R,
    /// Bytes read but not yet counted: `seen[at..]` starts at file offset `start`.
    seen: Vec<u8>,
    at: usize,
    start: u64,
    /// The line `start` is on, 1-based.
    line: u64,
    /// Off for a pass that asks no line numbers: nothing is kept then.
    counting: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            seen: Vec::with_capacity(1 << 16),
            at: 0,
            start: 0,
            line: 1,
            counting: true,
        }
    }

    /// For a pass that will never call `line_at`: without this, every byte
    /// read would be kept for a count nobody asks for.
    pub fn stop_counting(&mut self) {
        self.counting = false;
        self.seen = Vec::new();
        self.at = 0;
    }

    /// The line of the record csv says starts at byte `byte`. Calls must
    /// come in file order. csv skips CR and LF before a record; so do we.
    pub fn line_at(&mut self, byte: u64) -> u64 {
        let upto = usize::try_from(byte.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.seen.len() - self.at);
        let counted = &self.seen[self.at..self.at + upto];
        self.line += memchr::memchr_iter(b'\n', counted).count() as u64;
        self.at += upto;
        self.start += upto as u64;
        if self.at > (1 << 16) && self.at * 2 > self.seen.len() {
            self.seen.drain(..self.at);
            self.at = 0;
        }
        let skipped = self.seen[self.at..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|&&b| b == b'\n')
            .count();
        self.line + skipped as u64
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.counting {
            self.seen.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_without_line_numbers_keeps_nothing_of_what_it_read() {
        let mut lines = Lines::new(&[b'x'; 1 << 20][..]);
        lines.stop_counting();
        let mut sink = Vec::new();
        std::io::copy(&mut lines, &mut sink).expect("read");
        assert_eq!(sink.len(), 1 << 20);
        assert!(lines.seen.capacity() == 0);
        // While counting, what was counted is let go as it goes.
        let text = "a\n".repeat(1 << 18);
        let mut lines = Lines::new(text.as_bytes());
        let mut buf = [0u8; 4096];
        let mut read = 0u64;
        loop {
            let n = lines.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            read += n as u64;
            assert_eq!(lines.line_at(read), read / 2 + 1);
            assert!(lines.seen.len() <= (1 << 17) + 4096, "{}", lines.seen.len());
        }
    }
}
