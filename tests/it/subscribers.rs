//! `subscribe`, `unsubscribe` and `list`: what lands in the list file, what
//! never does, and that the file survives parallel writers and kill -9.

use std::process::Stdio;
use std::time::Duration;

use crate::util::{Project, inspect_eml, paths_in};

const LIST: &str = "subscribers.example.csv";

/// The list's rows, as read by the csv crate (header excluded).
fn rows(p: &Project) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(p.path(LIST))
        .expect("list")
        .records()
        .map(|r| r.expect("whole row").iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn subscribe_appends_a_clean_row_and_reports_what_it_did() {
    let p = Project::sample();
    let before = p.read(LIST);
    p.bulletin(&[
        "subscribe",
        "  New.Reader@Example.ORG ",
        "--name",
        "New Reader",
    ])
    .success()
    .stdout_has("New.Reader@example.org subscribed");
    let after = p.read(LIST);
    assert!(after.starts_with(&before), "existing rows untouched");
    assert_eq!(
        rows(&p).last().expect("row")[..3],
        [
            "New.Reader@example.org".to_string(),
            "New Reader".into(),
            "subscribed".into()
        ]
    );
    // Case-insensitively the same reader: nothing written.
    p.bulletin(&["subscribe", "new.reader@EXAMPLE.org"])
        .success()
        .stdout_has("already subscribed; nothing written");
    assert_eq!(p.read(LIST), after);
}

#[test]
fn only_an_explicit_subscribe_brings_back_someone_who_left() {
    let p = Project::sample();
    p.bulletin(&["subscribe", "erin@example.org"])
        .success()
        .stdout_has("had unsubscribed and is subscribed again");
    let erin: Vec<_> = rows(&p)
        .into_iter()
        .filter(|r| r[0] == "erin@example.org")
        .collect();
    // The old row stays, as the record; the appended one decides.
    assert_eq!(erin.len(), 2, "{erin:?}");
    assert_eq!(erin[0][2], "unsubscribed");
    assert_eq!(erin[1][2], "subscribed");
    p.dry_run("preview").success();
    assert!(
        p.files_in("preview")
            .iter()
            .any(|f| f.contains("erin_example.org"))
    );
}

#[test]
fn bad_subscribe_input_is_refused_and_the_list_untouched() {
    let p = Project::sample();
    let before = p.read(LIST);
    p.bulletin(&["subscribe", "not-an-address"])
        .failure()
        .stderr_has("not an email address");
    p.bulletin(&[
        "subscribe",
        "x@example.org",
        "--name",
        "Evil\r\nBcc: all@example.org",
    ])
    .failure()
    .stderr_has("--name contains a line break");
    p.bulletin(&["subscribe", "x@example.org", "--name", "bell\u{7}"])
        .failure()
        .stderr_has("control character");
    assert_eq!(p.read(LIST), before);
}

#[test]
fn a_name_a_spreadsheet_would_run_is_stored_as_text() {
    let p = Project::sample();
    let evil = "=HYPERLINK(\"http://evil.example\",\"click\")";
    p.bulletin(&["subscribe", "f@example.org", "--name", evil])
        .success();
    let text = p.read(LIST);
    let line = text.lines().last().expect("row");
    assert!(line.contains("'=HYPERLINK"), "{line}");
    for row in rows(&p) {
        for field in row {
            assert!(
                !field.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{field:?}"
            );
        }
    }
    // bulletin itself reads the name back as given.
    p.bulletin(&["list", "--all"])
        .success()
        .stdout_has(&format!("f@example.org\t{evil}\tsubscribed"));
}

#[test]
fn import_takes_csv_mailchimp_and_plain_lists() {
    let p = Project::sample();
    p.write(
        "plain.txt",
        "# sign-up sheet\nann@example.org\n\nBOB@example.org\nerin@example.org\n",
    );
    p.bulletin(&["subscribe", "--from", "plain.txt"])
        .success()
        .stdout_has(
            "1 added as subscribed, 1 already subscribed, 1 unsubscribed earlier (left as they are)",
        );
    p.write(
        "mailchimp.csv",
        "Email Address,First Name,Last Name,MEMBER_RATING\ncy@example.org,Cy,Young,2\nann@example.org,Ann,,1\ndee@example.org,,,3\ndee@example.org,,,3\n",
    );
    p.bulletin(&["subscribe", "--from", "mailchimp.csv"])
        .success()
        .stdout_has("2 added as subscribed, 1 already subscribed, 0 unsubscribed earlier (left as they are), 1 row folded into an earlier one of the same reader, 0 invalid");
    p.write("signups.csv", "name,email\n\"Lee, Eve\",eve@example.org\n");
    p.bulletin(&["subscribe", "--from", "signups.csv"])
        .success()
        .stdout_has("1 added");
    let emails: Vec<String> = rows(&p).into_iter().map(|r| r[0].clone()).collect();
    for e in [
        "ann@example.org",
        "cy@example.org",
        "dee@example.org",
        "eve@example.org",
    ] {
        assert_eq!(
            emails.iter().filter(|x| *x == e).count(),
            1,
            "{e} in {emails:?}"
        );
    }
    let cy = rows(&p)
        .into_iter()
        .find(|r| r[0] == "cy@example.org")
        .expect("cy");
    assert_eq!(cy[1], "Cy Young");
    let erin = rows(&p)
        .into_iter()
        .find(|r| r[0] == "erin@example.org")
        .expect("erin");
    assert_eq!(erin[2], "unsubscribed", "an import never re-subscribes");
}

#[test]
fn a_bad_import_names_its_lines_and_changes_nothing() {
    let p = Project::sample();
    let before = p.read(LIST);
    p.write(
        "in.csv",
        "email,name\ngood@example.org,Good\nbad-address,Bad\nx@example.org,\"two\nlines\"\n",
    );
    p.bulletin(&["subscribe", "--from", "in.csv"])
        .failure()
        .stderr_has("in.csv:3: \"bad-address\" is not an email address")
        .stderr_has("in.csv:4: name contains a line break")
        .stderr_has("nothing imported");
    assert_eq!(p.read(LIST), before);
    p.write(
        "latin1.txt",
        b"ok@example.org\nbad\xe9@example.org\n".as_slice(),
    );
    p.bulletin(&["subscribe", "--from", "latin1.txt"])
        .failure()
        .stderr_has("latin1.txt:2: is not UTF-8 text");
    p.write("noemail.csv", "address,name\nz@example.org,Z\n");
    p.bulletin(&["subscribe", "--from", "noemail.csv"])
        .failure()
        .stderr_has("noemail.csv:1: no email column");
    assert_eq!(p.read(LIST), before);
    // Asked to, it imports the good rows and still says what it skipped.
    // Exit 0: it did what was asked (exit 1 would mean nothing written).
    p.bulletin(&["subscribe", "--from", "in.csv", "--skip-invalid"])
        .success()
        .stdout_has("1 added")
        .stderr_has("in.csv:3:");
    assert!(p.read(LIST).contains("good@example.org"));
}

#[test]
fn unsubscribe_appends_a_row_and_keeps_the_old_one() {
    let p = Project::sample();
    let before = p.read(LIST);
    p.bulletin(&["unsubscribe", "BOB@example.org"])
        .success()
        .stdout_has("BOB@example.org unsubscribed");
    let after = p.read(LIST);
    assert!(after.starts_with(&before), "an append, not a rewrite");
    let bob: Vec<_> = rows(&p)
        .into_iter()
        .filter(|r| r[0].eq_ignore_ascii_case("bob@example.org"))
        .collect();
    assert_eq!(bob.len(), 2, "{bob:?}");
    assert_eq!(bob[1][2], "unsubscribed");
    p.bulletin(&["unsubscribe", "bob@example.org"])
        .success()
        .stdout_has("already unsubscribed");
    p.bulletin(&["unsubscribe", "nobody@example.org"])
        .failure()
        .stderr_has("is not on");
    p.bulletin(&["list"])
        .success()
        .stdout_has("3 subscribed, 2 unsubscribed, 0 invalid");
}

#[test]
fn the_token_in_a_message_unsubscribes_its_reader_and_no_one_else() {
    let p = Project::sample();
    p.dry_run("preview").success();
    let emls = paths_in(&p.path("preview"), "eml");
    let seen = inspect_eml(&emls);
    let alice = seen
        .iter()
        .find(|m| {
            m["headers"]["To"]
                .as_str()
                .is_some_and(|t| t.contains("alice@"))
        })
        .expect("alice");
    let header = alice["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("header");
    let url = header
        .strip_prefix("<")
        .and_then(|h| h.split('>').next())
        .expect("https link first");
    let token = url.rsplit('/').next().expect("token");
    // The visible footer link is the same one.
    assert!(alice["bodies"][0].as_str().expect("text").contains(url));
    assert!(
        alice["bodies"][1]
            .as_str()
            .expect("html")
            .contains(&format!("href=\"{url}\""))
    );

    let mut forged = token.to_owned();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    p.bulletin(&["unsubscribe", "--token", &forged])
        .failure()
        .stderr_has("not valid");
    p.bulletin(&["unsubscribe", "--token", token])
        .success()
        .stdout_has("alice@example.org unsubscribed");
    let statuses: Vec<(String, String)> = rows(&p)
        .into_iter()
        .map(|r| (r[0].clone(), r[2].clone()))
        .collect();
    assert!(statuses.contains(&("alice@example.org".into(), "unsubscribed".into())));
    assert!(statuses.contains(&("bob@example.org".into(), String::new())));
}

#[test]
fn fifty_parallel_subscribes_leave_fifty_whole_rows() {
    let p = Project::sample();
    let before = rows(&p).len();
    let children: Vec<_> = (0..50)
        .map(|i| {
            p.command(&[
                "subscribe",
                &format!("par{i}@example.org"),
                "--name",
                &format!("Parallel {i}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let after = rows(&p);
    assert_eq!(after.len(), before + 50);
    for i in 0..50 {
        let row = vec![
            format!("par{i}@example.org"),
            format!("Parallel {i}"),
            "subscribed".into(),
        ];
        assert_eq!(
            after.iter().filter(|r| r[..3] == row[..]).count(),
            1,
            "{row:?}"
        );
    }
}

/// An import only appends (the list only grows): `kill -9` at any point
/// leaves the old rows as they were and a part of the new ones, and the
/// same import run again finishes it, each reader once; a row the kill
/// cut is ended by the next writer and holds its reader (never consent).
#[test]
fn kill_9_during_an_import_leaves_the_old_rows_and_a_rerun_finishes_it() {
    let p = Project::sample();
    let mut big = String::from("email,name\n");
    for i in 0..50_000 {
        big.push_str(&format!("imp{i}@example.org,Imported {i}\n"));
    }
    p.write("big.csv", &big);
    let old = p.read(LIST);
    let start = std::time::Instant::now();
    p.bulletin(&["subscribe", "--from", "big.csv"]).success();
    let full = start.elapsed().as_micros() as u64;
    let mut partial = 0;
    for percent in (1..=6).map(|i| i * 20) {
        let delay = Duration::from_micros(full * percent / 100);
        p.write(LIST, &old);
        let mut child = p
            .command(&["subscribe", "--from", "big.csv"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        let now = p.read(LIST);
        assert!(now.starts_with(&old), "the old rows changed at {delay:?}");
        let added = now[old.len()..].lines().count();
        if added > 0 && added < 50_000 {
            partial += 1;
        }
        // Run again: it finishes, and every reader is there once.
        let again = p.bulletin(&["subscribe", "--from", "big.csv"]);
        again.success();
        let text = p.read(LIST);
        assert!(text.starts_with(&old));
        let mut held = 0;
        let mut seen = std::collections::HashSet::new();
        for line in text[old.len()..].lines() {
            if line.ends_with("\",,,,") {
                held += 1;
                continue;
            }
            let email = line.split(',').next().expect("email").to_owned();
            assert!(
                seen.insert(email.clone()),
                "{email} twice after kill at {delay:?}"
            );
        }
        assert!(held <= 1, "{held} rows cut");
        // A cut row whose address can be made out holds that reader (the
        // rerun leaves them to the editor); one cut short of it does not.
        assert!(
            seen.len() + held == 50_000 || (held == 1 && seen.len() == 50_000),
            "{} readers, {held} held, after kill at {delay:?}",
            seen.len()
        );
    }
    eprintln!("import takes {full} µs; {partial} kills left a part of it");
    // A kill inside the write itself, made sure of: the list as a kill
    // leaves it part-way through a row; the rerun finishes it.
    p.write(LIST, &old);
    p.bulletin(&["subscribe", "--from", "big.csv"]).success();
    let whole = p.read(LIST);
    let cut = old.len() + (whole.len() - old.len()) / 2 + 7;
    p.write(LIST, &whole[..cut]);
    assert!(!whole[..cut].ends_with('\n'));
    p.bulletin(&["subscribe", "--from", "big.csv"])
        .success()
        .stderr_has("an unfinished row");
    let text = p.read(LIST);
    assert!(text.starts_with(&whole[..cut]), "the list only grew");
    let rows: Vec<&str> = text[old.len()..].lines().collect();
    assert_eq!(rows.iter().filter(|l| l.ends_with("\",,,,")).count(), 1);
    let readers: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|l| !l.ends_with("\",,,,"))
        .map(|l| l.split(',').next().expect("email"))
        .collect();
    assert!(readers.len() >= 49_999, "{}", readers.len());
}

/// An `unsubscribed` row wins over earlier rows whatever lies between,
/// even a row that is not UTF-8.
#[test]
fn an_unsubscribe_after_a_damaged_row_still_counts() {
    let p = Project::sample();
    let mut list = b"email,name,status\nann@example.org,Ann,subscribed\n".to_vec();
    list.extend_from_slice(b"bad@example.org,B\xff\xfe,subscribed\n");
    list.extend_from_slice(b"ann@example.org,Ann,unsubscribed\nbob@example.org,Bob,\n");
    p.write("subscribers.example.csv", &list);
    let run = p.dry_run("preview");
    run.failure()
        .stderr_has("subscribers.example.csv:3: is not UTF-8");
    let files = p.files_in("preview");
    assert!(
        files.iter().any(|f| f.contains("bob_example.org")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.contains("ann_")),
        "Ann was mailed: {files:?}"
    );
}

/// A row with fewer fields than the header is a reader with the missing
/// trailing fields empty, as Python's csv.DictReader reads it.
#[test]
fn a_row_with_only_an_address_is_a_reader() {
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "email,name,status\nann@example.org,Ann,\nzed@example.net\n",
    );
    p.dry_run("preview").success().stdout_has("2 ");
    assert!(
        p.files_in("preview")
            .iter()
            .any(|f| f.contains("zed_example.net"))
    );
    p.bulletin(&["unsubscribe", "zed@example.net"])
        .success()
        .stdout_has("zed@example.net unsubscribed");
    // The first status change gives the list its `changed` column (a
    // rewrite, which pads the short rows); the change carries its time.
    assert_eq!(
        rows(&p),
        vec![
            vec!["ann@example.org", "Ann", "", ""],
            vec!["zed@example.net", "", "", ""],
            vec![
                "zed@example.net",
                "",
                "unsubscribed",
                "2022-08-01T10:00:00Z"
            ],
        ]
    );
    p.dry_run("again").success().stdout_has("recipients:   1");
}

/// A rewrite keeps the list's mode and owner, and the next command that
/// takes the lock removes what a killed rewrite left.
#[test]
fn a_rewrite_keeps_the_lists_mode_and_owner_and_clears_a_killed_rewrites_leftover() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let p = Project::sample();
    let list = p.path("subscribers.example.csv");
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    // As root (CI), the owner can be someone else's: the rewrite keeps it.
    let nobody = 65534;
    let as_root = std::os::unix::fs::chown(&list, Some(nobody), Some(nobody)).is_ok();
    p.write(".subscribers.example.csv.rewrite-killed", "half a list");
    p.bulletin(&["unsubscribe", "bob@example.org"]).success();
    let meta = std::fs::metadata(&list).expect("meta");
    assert_eq!(meta.mode() & 0o7777, 0o664);
    if as_root {
        assert_eq!((meta.uid(), meta.gid()), (nobody, nobody));
    }
    assert!(
        !p.top_level().iter().any(|f| f.contains(".rewrite-")),
        "{:?}",
        p.top_level()
    );
}

/// Windows line ends (every Excel and Mailchimp export), a BOM, blank
/// lines and quoted line breaks: every message names the right line.
#[test]
fn errors_name_the_right_line_in_a_crlf_list_with_a_bom() {
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "\u{feff}email,name,status,note\r\nann@example.org,Ann,,\"two\r\nlines\"\r\n\r\nbob@example.org,Bob,,\r\nnot-an-address,X,,\r\n",
    );
    p.dry_run("preview")
        .failure()
        .stderr_has("subscribers.example.csv:6: \"not-an-address\" is not an email address");
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("subscribers.example.csv:6:");
    p.write(
        "import.csv",
        "email,name\r\nok@example.org,A\r\n\r\nbad,B\r\n",
    );
    p.bulletin(&["subscribe", "--from", "import.csv"])
        .failure()
        .stderr_has("import.csv:4:");
}

/// A value that starts with `'` before a formula character, as a person
/// typed it, reads back as typed.
#[test]
fn a_name_typed_with_a_leading_quote_reads_back_as_typed() {
    let p = Project::sample();
    p.bulletin(&["subscribe", "q@example.org", "--name", "'=x"])
        .success();
    p.bulletin(&["list", "--all"])
        .success()
        .stdout_has("q@example.org\t'=x\tsubscribed");
}
