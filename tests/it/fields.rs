//! Per-reader fields: values as typed in both parts and the subject (never
//! read as Markdown or HTML), `default` for an empty value, and a field
//! that cannot be filled in stopping `check`, the dry-run and `send`
//! before anyone is mailed; what smtp-sink received, and DKIM over it.

use std::path::PathBuf;

use crate::compliance::{dkim_key, dkim_verify};
use crate::servers::SmtpSink;
use crate::util::{Project, inspect_eml, paths_in};

const LIST: &str = "subscribers.example.csv";
const ISSUE: &str = "issues/2022-08-01.toml";

/// Names that would be Markdown, HTML or an entity if read as either.
const TRICKY: &str = "*Ann* <b>bold</b> <script>alert(1)</script> & Co";

fn readers(p: &Project) {
    p.write(
        LIST,
        format!(
            "email,name,status,City Name\n\
             ann@example.org,\"{TRICKY}\",,Tokyo\n\
             jo@example.org,Jürgen Groß,,Kyōto\n\
             nn@example.org,,,Osaka\n"
        ),
    );
}

/// The sample issue with fields in its subject, its intro and a headline.
fn personal_issue(p: &Project, headline_field: &str) {
    let issue = p.read(ISSUE);
    let issue = issue.replacen(
        "headline = \"US & Japan",
        &format!("headline = \"{headline_field}US & Japan"),
        1,
    );
    p.write(
        ISSUE,
        format!(
            "subject = \"News for {{{{ first_name | default(\\\"you\\\") }}}}\"\n\
             title = \"News from the Alliance\"\n\
             intro = \"\"\"\nHi {{{{ name | default(\"there\") }}}}, from {{{{ city_name }}}}.\n\"\"\"\n{issue}"
        ),
    );
}

/// (subject, text part, HTML part) of each .eml, by address.
fn parts(files: &[PathBuf]) -> Vec<(String, String, String, String)> {
    inspect_eml(files)
        .into_iter()
        .map(|v| {
            let body = |i: usize| v["bodies"][i].as_str().unwrap_or("").to_owned();
            (
                v["headers"]["To"].as_str().unwrap_or("").to_owned(),
                v["headers"]["Subject"].as_str().unwrap_or("").to_owned(),
                body(0),
                body(1),
            )
        })
        .collect()
}

#[test]
fn each_reader_gets_their_values_as_typed_and_default_fills_an_empty_one() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    let (key, record) = dkim_key(&p.path("."), "rsa");
    p.write("record.txt", &record);
    p.with_dkim(&key);
    p.bulletin(&["check", "--issue", ISSUE])
        .success()
        .stdout_has("fields: city_name, first_name, name");
    p.dry_run("preview").success();
    let emls = paths_in(&p.path("preview"), "eml");
    assert_eq!(emls.len(), 3);
    let got = parts(&emls);

    let (to, subject, text, html) = &got[0];
    assert!(to.contains("ann@example.org"), "{to}");
    // The first word of the name, as typed; RFC 2047 decoded by Python.
    assert_eq!(subject, "News for *Ann*");
    assert!(
        text.contains(&format!("Hi {TRICKY}, from Tokyo.")),
        "{text}"
    );
    assert!(
        html.contains("Hi *Ann* &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co, from Tokyo."),
        "{html}"
    );
    assert!(!html.contains("<script>") && !html.contains("<em>Ann") && !html.contains("<b>"));

    let (_, subject, text, html) = &got[1];
    assert_eq!(subject, "News for Jürgen");
    assert!(text.contains("Hi Jürgen Groß, from Kyōto."), "{text}");
    assert!(html.contains("Hi Jürgen Groß, from Kyōto."));

    // No name: both defaults fill in.
    let (_, subject, text, _) = &got[2];
    assert_eq!(subject, "News for you");
    assert!(text.contains("Hi there, from Osaka."), "{text}");

    // The preview is the first reader's.
    let preview = p.read("preview/preview.txt");
    assert!(preview.contains("Hi *Ann*"), "{preview}");

    // Personalised messages still verify, and each is signed over its own
    // values: ann's body put in jo's message breaks jo's signature.
    for v in dkim_verify(&p.path("record.txt"), &emls) {
        assert_eq!(v["ok"], true, "{v}");
    }
    let ann = std::fs::read_to_string(&emls[0]).expect("eml");
    let jo = std::fs::read_to_string(&emls[1]).expect("eml");
    let body = |m: &str| m[m.find("\r\n\r\n").expect("body")..].to_owned();
    let head = |m: &str| m[..m.find("\r\n\r\n").expect("body")].to_owned();
    p.write("swapped.eml", format!("{}{}", head(&jo), body(&ann)));
    for v in dkim_verify(&p.path("record.txt"), &[p.path("swapped.eml")]) {
        assert_eq!(v["ok"], false, "{v}");
    }
}

/// Plain-text lines holding a field are wrapped once the value is in.
#[test]
fn a_long_value_is_wrapped_with_its_paragraph() {
    let p = Project::sample();
    p.write(
        LIST,
        format!(
            "email,name\nlong@example.org,{}\n",
            "Maximilian ".repeat(9).trim_end()
        ),
    );
    let issue = p.read(ISSUE);
    p.write(
        ISSUE,
        format!("intro = \"Dear {{{{ name }}}}, welcome to this issue of the digest, as always.\"\n{issue}"),
    );
    p.dry_run("preview").success();
    let v = inspect_eml(&paths_in(&p.path("preview"), "eml"));
    let text = v[0]["bodies"][0].as_str().expect("text");
    let intro: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Dear"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(intro.len() >= 2, "{text}");
    assert!(intro.iter().all(|l| l.chars().count() <= 72), "{intro:?}");
    assert_eq!(
        intro.join(" "),
        format!(
            "Dear {}, welcome to this issue of the digest, as always.",
            "Maximilian ".repeat(9).trim_end()
        )
    );
}

#[test]
fn a_field_that_is_no_column_stops_check_and_send_at_its_line() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "{{ nickname }}: ");
    let line = p
        .read(ISSUE)
        .lines()
        .position(|l| l.contains("nickname"))
        .expect("line")
        + 1;
    let needle = format!("{ISSUE}:{line}: `headline` uses {{{{ nickname }}}}, but");
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&needle)
        .stderr_has("has no column `nickname`");
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "concurrency = 1");
    p.send(&[]).failure().stderr_has(&needle);
    p.dry_run("preview").failure().stderr_has(&needle);
    assert!(!p.path("preview").exists());
    assert_eq!(sink.settled().len(), 0);
    assert!(!p.path("logs").exists(), "nothing may be written");
}

#[test]
fn an_empty_value_without_default_stops_everything_naming_the_rows() {
    let p = Project::sample();
    readers(&p);
    // Two more readers without a city, beyond the three.
    let list = p.read(LIST);
    p.write(
        LIST,
        format!("{list}x1@example.org,X,,\nx2@example.org,Y,,Nara\n"),
    );
    // `city_name` without default in a headline: x1 has none.
    personal_issue(&p, "{{ first_name }} in {{ city_name }}: ");
    let check = p.bulletin(&["check", "--issue", ISSUE]);
    check
        .failure()
        // nn has no name (line 4) and x1 no city (line 5).
        .stderr_has(&format!("{LIST}:4: nn@example.org: `first_name` is empty"))
        .stderr_has(&format!("{LIST}:5: x1@example.org: `city_name` is empty"))
        .stderr_has("uses it without a default");
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "concurrency = 1");
    p.send(&[])
        .failure()
        .stderr_has(&format!("{LIST}:4: nn@example.org"))
        .stderr_has("the fields of 2 readers cannot be filled in")
        .stderr_has("Nobody was mailed");
    p.dry_run("preview")
        .failure()
        .stderr_has(&format!("{LIST}:5: x1@example.org"));
    assert!(!p.path("preview").exists());
    assert_eq!(sink.settled().len(), 0, "nobody may be mailed");
    assert!(!p.path("logs").exists(), "nothing may be written");

    // Filled in, the same send goes to all five, each with their values.
    let list = p.read(LIST);
    p.write(
        LIST,
        list.replace("nn@example.org,,,Osaka", "nn@example.org,Nan,,Osaka")
            .replace("x1@example.org,X,,", "x1@example.org,X,,Kobe"),
    );
    p.send(&[]).success().stdout_has("sent:         5");
    let dumps: Vec<PathBuf> = crate::serve::dumped(&sink);
    assert_eq!(dumps.len(), 5);
    let seen: Vec<String> = inspect_eml(&dumps)
        .into_iter()
        .map(|v| v["bodies"][0].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        seen.iter().any(|t| t.contains("1. X in Kobe: US & Japan")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|t| t.contains("1. Nan in Osaka: US & Japan"))
    );
}

/// A test copy is filled from the address's own row, or with defaults.
#[test]
fn a_test_copy_takes_the_addresss_row_or_the_defaults() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    let sink = SmtpSink::start(&[]);
    p.with_server(sink.port, "", "concurrency = 1");
    p.send(&["--to", "jo@example.org"])
        .success()
        .stdout_has("Fields from line 3 of");
    p.send(&["--to", "editor@example.net"])
        .success()
        .stdout_has("each field shows its default");
    let dumps = crate::serve::dumped(&sink);
    let texts: Vec<String> = inspect_eml(&dumps)
        .into_iter()
        .map(|v| v["bodies"][0].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Hi Jürgen Groß, from Kyōto."))
    );
    // No row: `name` defaults; `city_name` has no default and is empty.
    assert!(
        texts.iter().any(|t| t.contains("Hi there, from .")),
        "{texts:?}"
    );
}

/// The archive page is nobody's: defaults, never a reader's value.
#[test]
fn the_archive_page_shows_defaults_not_a_readers_values() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!("{config}\n[archive]\nurl = \"https://news.example.org/archive\"\n"),
    );
    p.bulletin(&["archive", "--issue", ISSUE]).success();
    let page = p.read("archive/2022-08-01/index.html");
    assert!(page.contains("Hi there, from ."), "{page}");
    // The public title, not the subject's default ("News for you").
    assert!(page.contains("<h1>News from the Alliance</h1>"), "{page}");
    assert!(!page.contains("News for you"), "{page}");
    assert!(!page.contains("Ann") && !page.contains("Tokyo") && !page.contains("{{"));
}

/// A subject with a field and no `title` would show the public a
/// default on the archive and in the feed: `check`, the dry-run and
/// `send` stop at the subject's line, and nothing is sent or written.
#[test]
fn a_personal_subject_needs_a_title_for_the_public() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    let issue = p
        .read(ISSUE)
        .replace("title = \"News from the Alliance\"\n", "");
    p.write(ISSUE, &issue);
    let line = issue
        .lines()
        .position(|l| l.starts_with("subject = "))
        .expect("subject")
        + 1;
    let at = format!("{ISSUE}:{line}:");
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&at)
        .stderr_has("title");
    p.dry_run("preview").failure().stderr_has(&at);
    assert!(!p.path("preview").exists(), "a preview was written");
    // `archive = false` keeps it off the public pages: then it may go.
    p.write(ISSUE, format!("archive = false\n{issue}"));
    p.bulletin(&["check", "--issue", ISSUE]).success();
}

/// The title is for everyone: a field in it is refused at its line.
#[test]
fn a_title_cannot_hold_a_field() {
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    let issue = p.read(ISSUE).replace(
        "title = \"News from the Alliance\"",
        "title = \"News for {{ first_name }}\"",
    );
    p.write(ISSUE, &issue);
    let line = issue
        .lines()
        .position(|l| l.starts_with("title = "))
        .expect("title")
        + 1;
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has(&format!("{ISSUE}:{line}:"))
        .stderr_has("cannot hold a reader's field");
}

/// A personalised subject is shown to the editor as a reader gets it,
/// marked as personalised: by `check`, the dry-run, a test copy and the
/// summary of a send; never as `{…}`.
#[test]
fn the_editor_sees_a_personalised_subject_as_a_reader_gets_it() {
    let sink = crate::servers::SmtpSink::start(&[]);
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    p.with_server(sink.port, "", "");
    let first = "«News for *Ann*» (personalised: as ann@example.org gets it)";
    for run in [
        p.bulletin(&["check", "--issue", ISSUE]),
        p.dry_run("preview"),
        p.send(&[]),
    ] {
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(out.contains(first), "{out}");
        assert!(!out.contains("{…}"), "{out}");
    }
    p.bulletin(&["send", "--issue", ISSUE, "--to", "jo@example.org"])
        .success()
        .stdout_has("Test copy of «News for Jürgen» (personalised: as jo@example.org gets it)");
}

/// The prompt on a terminal (a pseudo-terminal made by `script`) shows a
/// personalised subject as the first reader gets it; answered "n", nothing
/// is sent.
#[test]
fn the_prompt_shows_a_personalised_subject_as_a_reader_gets_it() {
    use std::io::Write;
    let sink = crate::servers::SmtpSink::start(&[]);
    let p = Project::sample();
    readers(&p);
    personal_issue(&p, "");
    p.with_server(sink.port, "", "");
    let line = format!("{} send --issue {ISSUE}", env!("CARGO_BIN_EXE_bulletin"));
    let env = p.command(&[]);
    let mut script = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(p.path("."))
        .envs(
            env.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(500));
    script
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"n\n")
        .expect("answer");
    let out = script.wait_with_output().expect("wait");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(
            "Send «News for *Ann*» (personalised: as ann@example.org gets it) to 3 subscribers via"
        ),
        "{said}"
    );
    assert!(said.contains("not confirmed"), "{said}");
    assert!(sink.received().is_empty());
}
