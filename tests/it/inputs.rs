//! Bad inputs: each gets a one-line `path:line: message`, exit 1, no panic,
//! and no preview folder left behind.

use crate::util::{Project, Run};

const ISSUE: &str = "issues/2022-08-01.toml";
const LIST_FILE: &str = "subscribers.example.csv";

/// Runs a dry-run that must fail, and checks it left nothing behind.
fn refused(p: &Project) -> Run {
    let run = p.dry_run("preview");
    run.failure();
    let top = p.top_level();
    assert!(
        !top.iter().any(|n| n == "preview"),
        "preview written: {top:?}"
    );
    assert!(
        !top.iter().any(|n| n.starts_with(".bulletin-staging")),
        "staging left: {top:?}"
    );
    run
}

fn line_of(p: &Project, rel: &str, needle: &str) -> usize {
    p.read(rel)
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {rel}"))
        + 1
}

#[test]
fn an_unknown_key_in_the_issue_is_named_with_its_line() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "date = 2022-08-01",
        "date = 2022-08-01\nsujbect = \"Hi\"",
    );
    let line = line_of(&p, ISSUE, "sujbect");
    refused(&p).stderr_has(&format!(
        "{ISSUE}:{line}: column 1: unknown field `sujbect`"
    ));
}

#[test]
fn an_unknown_key_in_the_config_is_named_with_its_line() {
    let p = Project::sample();
    p.edit("config.toml", "list_id =", "listid = \"x.org\"\nlist_id =");
    let line = line_of(&p, "config.toml", "listid");
    refused(&p).stderr_has(&format!(
        "config.toml:{line}: column 1: unknown field `listid`"
    ));
}

#[test]
fn a_missing_key_is_named() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "headline = \"Allies carry out large military air exercise and missile sale\"",
        "",
    );
    refused(&p).stderr_has("missing field `headline`");
    let p = Project::sample();
    p.edit(
        "config.toml",
        "list_id = \"alliance-digest.example.org\"",
        "",
    );
    refused(&p)
        .stderr_has("config.toml:")
        .stderr_has("missing field `list_id`");
}

#[test]
fn a_wrong_type_is_named_with_its_line() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "date = 2022-08-01",
        "date = 2022-08-01\nnumber = \"twelve\"",
    );
    let line = line_of(&p, ISSUE, "number");
    refused(&p).stderr_has(&format!("{ISSUE}:{line}: column 10: invalid type: string"));
    let p = Project::sample();
    p.edit(ISSUE, "date = 2022-08-01", "date = \"August\"");
    refused(&p).stderr_has(&format!("{ISSUE}:5:"));
}

#[test]
fn a_subject_with_a_line_break_is_refused() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "date = 2022-08-01",
        "date = 2022-08-01\nsubject = \"Hello\\r\\nBcc: everyone@example.org\"",
    );
    let line = line_of(&p, ISSUE, "subject =");
    refused(&p).stderr_has(&format!(
        "{ISSUE}:{line}: `subject` contains a line break (CR/LF); it must be one line"
    ));
}

#[test]
fn a_newsletter_name_with_a_line_break_is_refused() {
    let p = Project::sample();
    p.edit(
        "config.toml",
        "name = \"US-Japan Alliance Digest\"",
        "name = \"Digest\\nX-Evil: 1\"",
    );
    refused(&p).stderr_has("config.toml:6: `name` contains a line break");
}

#[test]
fn links_other_than_http_and_mailto_are_refused_at_their_line() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "medium-range air-to-air missiles",
        "medium-range [air-to-air](javascript:alert(1)) missiles",
    );
    p.edit(
        ISSUE,
        "virtual COVID-19",
        "virtual\n[COVID-19](/covid) and [x](ftp://example.org/f)",
    );
    let js = line_of(&p, ISSUE, "javascript:");
    let rel = line_of(&p, ISSUE, "(/covid)");
    let run = refused(&p);
    run.stderr_has(&format!(
        "{ISSUE}:{js}: `body`: link target \"javascript:alert(1)\" uses javascript:"
    ))
    .stderr_has(&format!(
        "{ISSUE}:{rel}: `body`: link target \"/covid\" is relative"
    ))
    .stderr_has(&format!(
        "{ISSUE}:{rel}: `body`: link target \"ftp://example.org/f\" uses ftp:"
    ));
}

#[test]
fn a_read_more_link_must_be_http() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "headline = \"Allies carry",
        "link = \"javascript:void(0)\"\nheadline = \"Allies carry",
    );
    let line = line_of(&p, ISSUE, "link =");
    refused(&p).stderr_has(&format!("{ISSUE}:{line}: `link` uses javascript:"));
}

#[test]
fn raw_html_in_a_body_is_shown_as_text_never_passed_through() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "Both nations agreed",
        "<script>alert('x')</script> <img src=x onerror=alert(1)> Both nations agreed",
    );
    p.dry_run("preview").success();
    let html = p.read("preview/preview.html");
    assert!(!html.contains("<script>alert"), "script passed through");
    assert!(!html.contains("<img src=x"), "img passed through");
    assert!(html.contains("&lt;script&gt;alert('x')&lt;/script&gt;"));
    let text = p.read("preview/preview.txt");
    assert!(
        text.contains("<script>alert('x')</script>"),
        "text shows it as written"
    );
}

#[test]
fn check_lists_every_problem_not_just_the_first() {
    let p = Project::sample();
    p.edit(
        ISSUE,
        "date = 2022-08-01",
        "date = 2022-08-01\nsubject = \"A\\nB\"",
    );
    p.edit(
        ISSUE,
        "Secretary of State Blinken and",
        "[a](javascript:x) and",
    );
    p.edit(
        ISSUE,
        "The US Air Force",
        "[b](data:text/html,hi) The US Air Force",
    );
    p.edit(
        "config.toml",
        "from = \"US-Japan Alliance Digest <digest@example.org>\"",
        "from = \"not an address\"",
    );
    p.write(
        "subscribers.example.csv",
        "email,name\nok@example.org,Ok\nbad,Bad\n",
    );
    let run = p.bulletin(&["check", "--issue", ISSUE]);
    run.failure()
        .stderr_has("config.toml:7: `from` \"not an address\" is not an address")
        .stderr_has(&format!("{ISSUE}:6: `subject` contains a line break"))
        .stderr_has("javascript:x")
        .stderr_has("data:text/html,hi")
        .stderr_has("4 problems");
    // The list is checked only with a usable config; fix it and it shows.
    p.edit(
        "config.toml",
        "from = \"not an address\"",
        "from = \"d@example.org\"",
    );
    p.bulletin(&["check", "--issue", ISSUE])
        .failure()
        .stderr_has("subscribers.example.csv:3: \"bad\" is not an email address")
        .stderr_has("4 problems");
}

#[test]
fn a_password_in_the_config_is_refused_and_not_echoed() {
    let p = Project::sample();
    p.edit(
        "config.toml",
        "security = \"none\"",
        "security = \"none\"\npassword = \"hunter2\"",
    );
    let run = refused(&p);
    run.stderr_has("`password` does not belong in the config file")
        .stderr_has("BULLETIN_SMTP_PASSWORD");
    assert!(
        !run.stderr.contains("hunter2"),
        "secret echoed: {}",
        run.stderr
    );
}

#[test]
fn plaintext_smtp_to_a_remote_host_is_refused() {
    let p = Project::sample();
    p.edit(
        "config.toml",
        "host = \"127.0.0.1\"",
        "host = \"smtp.example.org\"",
    );
    refused(&p).stderr_has("plaintext");
}

#[test]
fn a_toml_syntax_error_is_named_with_its_line() {
    let p = Project::sample();
    p.edit(ISSUE, "date = 2022-08-01", "date = 2022-08-01\n[[story]\n");
    refused(&p).stderr_has(&format!("{ISSUE}:6: column"));
}

#[test]
fn an_issue_with_no_stories_is_refused() {
    let p = Project::sample();
    p.write(ISSUE, "date = 2022-08-01\n");
    refused(&p).stderr_has("the issue has no stories");
}

#[test]
fn missing_and_unreadable_files_are_named() {
    let p = Project::sample();
    p.bulletin(&["send", "--issue", "issues/nope.toml", "--dry-run"])
        .failure()
        .stderr_has("issues/nope.toml: cannot be read");
    p.bulletin(&["--config", "nope.toml", "check", "--issue", ISSUE])
        .failure()
        .stderr_has("nope.toml: cannot be read");
    p.write(ISSUE, b"date = \xff\n".as_slice());
    refused(&p).stderr_has(&format!("{ISSUE}: is not UTF-8 text"));
}

#[test]
fn a_missing_list_or_one_without_an_email_column_is_refused() {
    let p = Project::sample();
    std::fs::remove_file(p.path("subscribers.example.csv")).expect("rm");
    refused(&p).stderr_has("subscribers.example.csv: cannot be read");
    p.write("subscribers.example.csv", "address,name\na@example.org,A\n");
    refused(&p).stderr_has("subscribers.example.csv:1: the header row has no `email` column");
}

#[test]
fn a_folder_bulletin_did_not_write_is_never_replaced() {
    let p = Project::sample();
    p.write("preview/notes.txt", "mine");
    p.dry_run("preview")
        .failure()
        .stderr_has("holds files bulletin did not write");
    assert_eq!(p.read("preview/notes.txt"), "mine");
    assert_eq!(p.files_in("preview"), vec!["notes.txt"]);
}

/// The sections of the web endpoint and the return mailbox: every bad
/// value named at its line, nothing written.
#[test]
fn bad_serve_and_bounces_settings_are_named_at_their_lines() {
    let p = Project::sample();
    let config = p.read("config.toml");
    p.write(
        "config.toml",
        format!(
            "{config}\n[serve]\nlisten = \"not an address\"\npublic_url = \"ftp://x\"\nsubscribe_limit_per_minute = 0\n\n[bounces]\naddress = \"bounces+x@example.org\"\nsoft_limit = 0\nimap = \"imap://plain.example.org\"\n"
        ),
    );
    let before = p.read(LIST_FILE);
    let run = p.bulletin(&["check", "--issue", ISSUE]);
    run.failure();
    for (needle, says) in [
        ("listen = \"not", "`listen`"),
        ("public_url = \"ftp", "`public_url`"),
        (
            "subscribe_limit_per_minute = 0",
            "subscribe_limit_per_minute",
        ),
        ("address = \"bounces+x", "without `+`"),
    ] {
        let line = line_of(&p, "config.toml", needle);
        run.stderr_has(&format!("config.toml:{line}: "))
            .stderr_has(says);
    }
    assert!(!run.stderr.contains("panicked"));
    assert_eq!(p.read(LIST_FILE), before);
}
