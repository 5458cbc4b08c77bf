//! Import files (`subscribe --from`): a CSV with an `email` column, a
//! Mailchimp export, a bulletin list, or one address a line, read into one
//! request per reader. A `status` column is read (bulletin's statuses and
//! what common exports call theirs); the rows of one address are folded
//! as the list's are (`consent::Standing`: the latest row counts, an empty
//! status after a suppression lifts nothing, a sign-up never confirmed
//! hides nothing), so a bulletin list imported whole keeps who left.

use std::path::Path;

use crate::audience::consent::Standing;
use crate::audience::details::sets_details;
use crate::audience::lines::Lines;
use crate::audience::list_file::undefuse;
use crate::audience::subscribers::Status;
use crate::input::checked::Line;
use crate::input::diagnostic::{Diagnostic, Diagnostics};
use crate::input::email::{Email, FingerprintMap};

/// What a status value in an import file means, case and spaces aside:
/// bulletin's own, Mailchimp's (`cleaned`: its addresses that bounced;
/// `transactional` and `archived`: never subscribed to the newsletter),
/// and the words other tools use for a complaint. `None`: unknown, an
/// error at its line (a suppression under a name we do not know must not
/// become a subscription).
pub fn parse_status(value: &str) -> Option<Status> {
    Some(
        match value
            .trim()
            .to_ascii_lowercase()
            .replace(['_', '-'], " ")
            .as_str()
        {
            "" | "subscribed" => Status::Subscribed,
            "unsubscribed" => Status::Unsubscribed,
            "bounced" | "cleaned" => Status::Bounced,
            "complained" | "spam" | "abuse" => Status::Complained,
            // Never confirmed, or never a subscriber: nothing to import.
            "pending" | "transactional" | "archived" => Status::Pending,
            _ => return None,
        },
    )
}

/// The status values `parse_status` knows, for an error message.
pub const KNOWN: &str = "subscribed, unsubscribed, bounced, cleaned, complained, spam, pending, transactional or archived";

/// One reader of an import file, their rows folded.
#[derive(Debug, Clone)]
pub struct Request {
    /// The address as its first row spells it.
    pub email: Email,
    /// Their latest name and tags (never from a `pending` row).
    pub name: Option<Line>,
    pub tags: Option<String>,
    /// What their rows say: `Pending` when they never subscribed.
    pub status: Status,
    /// The line of their first row.
    pub line: usize,
}

/// An import file read: one request per reader in the order first met,
/// the bad rows (with their lines), and how many rows were folded into an
/// earlier one of the same reader.
#[derive(Debug, Default)]
pub struct Read {
    pub requests: Vec<Request>,
    pub invalid: Vec<Diagnostic>,
    pub folded: u64,
}

/// One row as read, before folding.
struct RowIn<'a> {
    line: usize,
    email: &'a str,
    name: &'a str,
    tags: &'a str,
    status: &'a str,
}

impl Read {
    fn take(&mut self, file: &Path, index: &mut FingerprintMap<(usize, Standing)>, row: RowIn) {
        let at = |why: String| Diagnostic::new(file, Some(row.line), why);
        let email = match Email::parse(undefuse(row.email)) {
            Ok(e) => e,
            Err(why) => return self.invalid.push(at(why)),
        };
        let status = match parse_status(undefuse(row.status)) {
            Some(s) => s,
            None => {
                return self.invalid.push(at(format!(
                    "status {:?} is not one of {KNOWN}",
                    row.status.trim()
                )));
            }
        };
        let name = match undefuse(row.name.trim()) {
            "" => None,
            n => match Line::parse(n) {
                Ok(line) => Some(line),
                Err(why) => return self.invalid.push(at(format!("name {why}"))),
            },
        };
        let tags =
            Some(crate::audience::tags::canonical([undefuse(row.tags)])).filter(|t| !t.is_empty());
        let explicit = !row.status.trim().is_empty();
        let key = email.fingerprint();
        match index.get_mut(&key) {
            None => {
                index.insert(key, (self.requests.len(), Standing::new(status, 0)));
                let mut request = Request {
                    email,
                    name: None,
                    tags: None,
                    status,
                    line: row.line,
                };
                if sets_details(status) {
                    request.name = name;
                    request.tags = tags;
                }
                self.requests.push(request);
            }
            Some((i, standing)) => {
                self.folded += 1;
                standing.fold(status, 0, explicit);
                let request = &mut self.requests[*i];
                request.status = standing.status;
                if sets_details(status) {
                    request.name = name.or(request.name.take());
                    request.tags = tags.or(request.tags.take());
                }
            }
        }
    }
}

/// Reads an import file. The file as a whole must be readable (else the
/// one error); each bad row is a diagnostic with its line.
pub fn read(file: &Path) -> Result<Read, Diagnostics> {
    let fail = |line, msg: String| Diagnostics(vec![Diagnostic::new(file, line, msg)]);
    let bytes = std::fs::read(file).map_err(|e| fail(None, format!("cannot be read: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        fail(Some(line), "is not UTF-8 text".into())
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    let mut out = Read::default();
    let mut index = FingerprintMap::default();
    if !first.contains(',') && !first.trim().eq_ignore_ascii_case("email") {
        // One address per line; blank lines and # comments are skipped.
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if !l.is_empty() && !l.starts_with('#') {
                let row = RowIn {
                    line: i + 1,
                    email: l,
                    name: "",
                    tags: "",
                    status: "",
                };
                out.take(file, &mut index, row);
            }
        }
        return Ok(out);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(Lines::new(text.as_bytes()));
    let headers = reader
        .headers()
        .map_err(|e| fail(Some(1), format!("unreadable header row: {e}")))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let email_col = find(&["email", "email address", "e-mail"]).ok_or_else(|| {
        fail(
            Some(1),
            "no email column: expected `email` (or Mailchimp's `Email Address`)".into(),
        )
    })?;
    let name_col = find(&["name"]);
    let (first_col, last_col) = (find(&["first name"]), find(&["last name"]));
    let tags_col = find(&["tags"]);
    let status_col = find(&["status"]);
    // Mailchimp exports each status to a file of its own, without a status
    // column: its unsubscribed and cleaned files are known by their columns.
    let whole_file = match (status_col, find(&["unsub_time"]), find(&["clean_time"])) {
        (None, Some(_), _) => "unsubscribed",
        (None, _, Some(_)) => "cleaned",
        _ => "",
    };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let byte = e.position().map_or(0, |p| p.byte());
                let line = reader.get_mut().line_at(byte) as usize;
                out.invalid
                    .push(Diagnostic::new(file, Some(line), e.to_string()));
                continue;
            }
        }
        let byte = record.position().map_or(0, |p| p.byte());
        let line = reader.get_mut().line_at(byte) as usize;
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
        let name = match name_col {
            Some(_) => get(name_col).to_owned(),
            None => format!("{} {}", get(first_col), get(last_col))
                .trim()
                .to_owned(),
        };
        let row = RowIn {
            line,
            email: get(Some(email_col)),
            name: &name,
            tags: get(tags_col),
            status: match status_col {
                Some(_) => get(status_col),
                None => whole_file,
            },
        };
        out.take(file, &mut index, row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Read {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("import.csv");
        std::fs::write(&path, text).expect("write");
        read(&path).expect("read")
    }

    #[test]
    fn a_bulletin_list_is_folded_per_reader_and_its_latest_row_counts() {
        let got = read_text(
            "email,name,status,changed,tags\n\
             ann@x.org,Ann,subscribed,,japan\n\
             bo@x.org,Bo,,,\n\
             ANN@x.org,,unsubscribed,2022-07-01T00:00:00Z,\n\
             cy@x.org,Stranger,pending,,korea\n\
             bo@x.org,Bo Lee,subscribed,,staff\n\
             ann@x.org,,,,\n",
        );
        assert!(got.invalid.is_empty(), "{:?}", got.invalid);
        let by = |e: &str| {
            got.requests
                .iter()
                .find(|r| r.email.as_str() == e)
                .expect("reader")
        };
        // An empty status after a suppression lifts nothing.
        assert_eq!(by("ann@x.org").status, Status::Unsubscribed);
        assert_eq!(by("bo@x.org").status, Status::Subscribed);
        assert_eq!(
            by("bo@x.org").name.as_ref().map(Line::as_str),
            Some("Bo Lee")
        );
        assert_eq!(by("bo@x.org").tags.as_deref(), Some("staff"));
        // A sign-up never confirmed: nothing to import, and its text is
        // no detail.
        assert_eq!(by("cy@x.org").status, Status::Pending);
        assert_eq!(by("cy@x.org").name, None);
        assert_eq!(got.folded, 3);
    }

    #[test]
    fn export_statuses_are_read_and_an_unknown_one_is_an_error_at_its_line() {
        let got = read_text(
            "Email Address,First Name,Last Name,Status\n\
             a@x.org,A,,cleaned\n\
             b@x.org,B,,Spam\n\
             c@x.org,C,,hard-bounce\n\
             d@x.org,D,,transactional\n",
        );
        let statuses: Vec<Status> = got.requests.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![Status::Bounced, Status::Complained, Status::Pending]
        );
        assert_eq!(got.invalid.len(), 1);
        assert_eq!(got.invalid[0].line, Some(4));
        assert!(got.invalid[0].message.contains("\"hard-bounce\""));
        // Mailchimp's unsubscribed export has no status column.
        let got = read_text("Email Address,UNSUB_TIME\na@x.org,2022-01-01\n");
        assert_eq!(got.requests[0].status, Status::Unsubscribed);
    }
}
