//! A part of the message quoted-printable encoded once per issue, but for
//! the pieces that differ per reader (the unsubscribe link, fields),
//! encoded for each: encoding is most of the cost of a message.

use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

use crate::compose::render::{Part, Piece, fill_piece};

/// A part's bytes, quoted-printable encoded once per issue but for the
/// pieces that differ per reader (the link, fields), encoded for each.
/// Every piece is encoded on its own and, unless it ends a line (or the
/// next piece starts one), ends with a soft line break (`=` CRLF), which
/// a decoder takes out: the pieces join into one valid body, whatever
/// their values.
#[derive(Debug, Clone)]
pub struct Encoded {
    pieces: Vec<Encoding>,
    /// The filled pieces' escaping (HTML, or as typed).
    escape: fn(&str, &mut String),
}

#[derive(Debug, Clone)]
enum Encoding {
    Done(Vec<u8>),
    /// The piece, and whether a soft break must follow it.
    PerReader(Piece, bool),
}

fn qp(s: &str) -> Vec<u8> {
    Body::new_with_encoding(s.to_owned(), ContentTransferEncoding::QuotedPrintable)
        .map(Body::into_vec)
        .unwrap_or_else(|raw| raw)
}

/// `s` encoded as one piece of a part (see `Encoded`), with a soft break
/// after it when it does not end a line and `open` (the line goes on).
fn qp_piece(s: &str, open: bool, out: &mut Vec<u8>) {
    if s.is_empty() {
        return;
    }
    out.extend_from_slice(&qp(s));
    if open && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"=\r\n");
    }
}

impl Encoded {
    pub fn new(part: &Part, escape: fn(&str, &mut String)) -> Self {
        // The line goes on after a piece unless the part ends or the next
        // piece starts with a line break.
        let open = |i: usize| match part.pieces.get(i + 1) {
            None => false,
            Some(Piece::Text(t)) => !t.starts_with('\n'),
            Some(_) => true,
        };
        let pieces = part
            .pieces
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                Piece::Text(t) => {
                    let mut done = Vec::new();
                    qp_piece(t, open(i), &mut done);
                    Encoding::Done(done)
                }
                other => Encoding::PerReader(other.clone(), open(i)),
            })
            .collect();
        Self { pieces, escape }
    }

    /// The bytes every reader's part starts with.
    pub fn shared_start(&self) -> &[u8] {
        match self.pieces.first() {
            Some(Encoding::Done(b)) => b,
            _ => &[],
        }
    }

    pub fn body(&self, link: &str, values: &[String]) -> Body {
        let mut buf = Vec::with_capacity(
            self.pieces
                .iter()
                .map(|p| match p {
                    Encoding::Done(b) => b.len(),
                    Encoding::PerReader(..) => 128,
                })
                .sum(),
        );
        let mut filled = String::new();
        for p in &self.pieces {
            match p {
                Encoding::Done(b) => buf.extend_from_slice(b),
                Encoding::PerReader(piece, open) => {
                    filled.clear();
                    fill_piece(piece, link, values, self.escape, &mut filled);
                    qp_piece(&filled, *open, &mut buf);
                }
            }
        }
        Body::dangerous_pre_encoded(buf, ContentTransferEncoding::QuotedPrintable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::render::{as_html, mark};

    /// Pieces encoded apart join into a body that decodes to the whole.
    #[test]
    fn pieces_encoded_apart_decode_to_the_filled_part() {
        let long = "é".repeat(50);
        let source = format!(
            "<p>{long} {} = x</p>\n<a href=\"{}\">y</a> {}\n{}",
            mark(0),
            crate::compose::render::LINK,
            mark(1),
            mark(0)
        );
        let part = Part::split(source);
        let encoded = Encoded::new(&part, as_html);
        let values = ["A <b> & ".repeat(12), "tail ".to_owned()];
        let link = format!("https://example.org/u/{}", "T".repeat(90));
        let body = encoded.body(&link, &values).into_vec();
        assert!(body.split(|b| *b == b'\n').all(|l| l.len() <= 78));
        let message = format!(
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            String::from_utf8(body).expect("ascii")
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(message.as_bytes())
            .expect("parsed");
        let decoded = parsed.body_html(0).expect("html").replace("\r\n", "\n");
        assert_eq!(decoded, part.fill(&link, &values, as_html));
    }
}
