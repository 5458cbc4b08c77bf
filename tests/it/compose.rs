//! A dry-run of the sample issue: the files it writes, read back by Python's
//! `email` package, and the seed newsletter found in them word for word.

use std::collections::HashSet;

use crate::util::{Project, inspect_eml, paths_in, repo_root};

/// The seed newsletter: (headlines, detail paragraphs, footer).
fn seed() -> (Vec<String>, Vec<String>, String) {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/alliance-digest.txt"))
        .expect("seed");
    let lines: Vec<&str> = text.lines().collect();
    let h = lines
        .iter()
        .position(|l| *l == "Headlines")
        .expect("Headlines");
    let d = lines.iter().position(|l| *l == "Details").expect("Details");
    let items = |from: usize, to: usize| -> Vec<String> {
        lines[from..to]
            .iter()
            .filter_map(|l| l.strip_prefix("- "))
            .map(str::to_owned)
            .collect()
    };
    let footer = lines[d + 1..]
        .iter()
        .find(|l| !l.starts_with("- ") && !l.is_empty())
        .expect("footer")
        .to_string();
    (items(h + 1, d), items(d + 1, lines.len()), footer)
}

/// The text of an HTML document, tags dropped and `&amp;` decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
}

/// Words separated by single spaces, footnote markers like " [1]" removed.
fn flatten(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for n in 1..20 {
        out = out.replace(&format!(" [{n}]"), "");
    }
    out
}

#[test]
fn dry_run_writes_one_eml_per_subscribed_reader_and_the_previews() {
    let p = Project::sample();
    p.dry_run("preview")
        .success()
        .stdout_has("nothing was sent")
        .stdout_has("recipients:   4")
        .stdout_has("1 unsubscribed, 0 duplicate, 0 invalid");
    assert_eq!(
        p.files_in("preview"),
        vec![
            ".bulletin-preview",
            "000001-alice_example.org.eml",
            "000002-bob_example.org.eml",
            "000003-zoe_example.org.eml",
            "000004-dana_example.org.eml",
            "preview.html",
            "preview.txt",
            "recipients.csv",
        ]
    );
    // Every reader on the list, with what a send would do and why.
    assert_eq!(
        p.read("preview/recipients.csv"),
        "line,email,outcome,why\n\
         2,alice@example.org,would get it,\n\
         3,bob@example.org,would get it,\n\
         4,zoe@example.org,would get it,\n\
         5,dana@example.org,would get it,\n\
         6,erin@example.org,not mailed,unsubscribed\n"
    );
    // No staging folder is left beside it, and no delivery log is written.
    let top = p.top_level();
    assert!(
        !top.iter().any(|n| n.starts_with(".bulletin-staging")),
        "{top:?}"
    );
    assert!(!top.iter().any(|n| n == "logs"), "{top:?}");
}

#[test]
fn every_eml_parses_with_python_email_as_text_then_html_with_no_defects() {
    let p = Project::sample();
    p.dry_run("preview").success();
    let emls = paths_in(&p.path("preview"), "eml");
    let seen = inspect_eml(&emls);
    assert_eq!(seen.len(), 4);
    let (headlines, details, footer) = seed();
    let mut ids = HashSet::new();
    for m in &seen {
        assert_eq!(m["defects"], serde_json::json!([]), "{}", m["file"]);
        assert_eq!(m["content_type"], "multipart/alternative");
        assert_eq!(
            m["part_types"],
            serde_json::json!(["text/plain", "text/html"])
        );
        assert_eq!(m["charsets"], serde_json::json!(["utf-8", "utf-8"]));
        assert!(m["max_line"].as_u64().expect("n") <= 998, "{}", m["file"]);
        assert_eq!(m["bare_lf"], 0, "line ends must be CRLF");
        let h = &m["headers"];
        for name in [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "List-Id",
        ] {
            assert!(h.get(name).is_some(), "{name} missing in {}", m["file"]);
        }
        assert_eq!(h["Subject"], "US-Japan Alliance Digest: August 1, 2022");
        assert_eq!(
            h["List-Id"],
            "\"US-Japan Alliance Digest\" <alliance-digest.example.org>"
        );
        assert!(ids.insert(h["Message-ID"].as_str().expect("id").to_owned()));

        let text = flatten(m["bodies"][0].as_str().expect("text"));
        let html = flatten(&strip_tags(m["bodies"][1].as_str().expect("html"))).replace(" .", ".");
        for part in [&text, &html] {
            for s in headlines.iter().chain(&details) {
                assert!(part.contains(s.as_str()), "missing {s:?} in {}", m["file"]);
            }
            assert!(part.contains(&footer), "footer missing in {}", m["file"]);
        }
    }
    let zoe = seen
        .iter()
        .find(|m| m["file"].as_str().is_some_and(|f| f.contains("zoe")))
        .expect("zoe");
    assert_eq!(zoe["headers"]["To"], "Zoë Ōtsuka-Brontë <zoe@example.org>");
    let dana = seen
        .iter()
        .find(|m| m["file"].as_str().is_some_and(|f| f.contains("dana")))
        .expect("dana");
    assert_eq!(
        dana["headers"]["To"],
        "\"Dana \\\"DJ\\\" Jones\" <dana@example.org>"
    );
}

#[test]
fn the_sample_issue_file_holds_the_seed_word_for_word() {
    let p = Project::sample();
    p.dry_run("preview").success();
    let text = p.read("preview/preview.txt");
    let (headlines, details, footer) = seed();
    // The Headlines list, numbered, in the seed's order.
    let flat = flatten(&text);
    let list: String = headlines
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{}. {h}", i + 1))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains(&format!("Headlines --------- {list} Details")),
        "{flat}"
    );
    // Each detail paragraph under its own headline, in order.
    let mut at = 0;
    for (i, (h, d)) in headlines.iter().zip(&details).enumerate() {
        let block = format!("{}. {h} {d}", i + 1);
        let found = flat[at..]
            .find(&block)
            .unwrap_or_else(|| panic!("story {} not in order", i + 1));
        at += found + block.len();
    }
    assert!(flat[at..].contains(&footer), "footer after the stories");
}

#[test]
fn the_text_part_wraps_at_72_columns_with_underlined_headings() {
    let p = Project::sample();
    p.dry_run("preview").success();
    let text = p.read("preview/preview.txt");
    for line in text.lines() {
        // The one exception: a URL longer than a line stays whole.
        let lone_url = line.starts_with("https://") && !line.contains(' ');
        assert!(line.chars().count() <= 72 || lone_url, "too long: {line:?}");
    }
    assert!(
        text.starts_with("US-Japan Alliance Digest\n========================\nAugust 1, 2022\n")
    );
    assert!(text.contains("\nHeadlines\n---------\n"));
    assert!(text.contains("\nDetails\n-------\n"));
    assert!(text.ends_with("[1] mailto:egulum@spfusa.org\n"), "{text}");
}

#[test]
fn the_html_preview_reads_like_the_seed() {
    let p = Project::sample();
    p.dry_run("preview").success();
    let html = p.read("preview/preview.html");
    let (headlines, _, _) = seed();
    let order = [
        "<h1",
        "US-Japan Alliance Digest",
        "August 1, 2022",
        "Headlines",
        "Details",
        "bi-weekly summary",
        "Washington, DC 20001, USA",
    ];
    let mut at = 0;
    for needle in order {
        at += html[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} out of order"));
    }
    for (i, h) in headlines.iter().enumerate() {
        let h = h.replace('&', "&amp;");
        let n = i + 1;
        assert!(html.contains(&format!("href=\"#story-{n}\"")), "link {n}");
        assert!(html.contains(&format!("id=\"story-{n}\"")), "anchor {n}");
        assert!(html.contains(&h), "headline {n}");
    }
    assert!(html.contains("role=\"presentation\""));
    assert!(html.contains("max-width: 600px"));
    assert!(html.contains("name=\"color-scheme\""));
    assert!(html.contains("prefers-color-scheme: dark"));
    assert!(html.contains("class=\"preheader\""));
    assert!(html.contains("href=\"mailto:egulum@spfusa.org\""));
}

/// A script in any field the editor writes (a headline, a body, the
/// standing footer, the postal address, the newsletter's name) reaches the
/// HTML as text, never as a tag.
#[test]
fn no_field_can_put_a_script_into_the_html() {
    let p = Project::sample();
    let script = "<script>alert(1)</script><SCRIPT src=x></SCRIPT>";
    p.edit(
        "issues/2022-08-01.toml",
        "headline = \"Allies carry",
        &format!("headline = \"{script} Allies carry"),
    )
    .edit(
        "issues/2022-08-01.toml",
        "The US Air Force",
        &format!("{script} The US Air Force"),
    )
    .edit(
        "config.toml",
        "“US-Japan Alliance Digest” is",
        &format!("{script} is"),
    )
    .edit(
        "config.toml",
        "1 Example Plaza",
        &format!("1 Example Plaza {script}"),
    )
    .edit(
        "config.toml",
        "name = \"US-Japan Alliance Digest\"",
        &format!("name = \"Digest {script}\""),
    );
    p.dry_run("preview").success();
    let html = p.read("preview/preview.html");
    assert!(
        !html.to_lowercase().contains("<script"),
        "a script tag got through"
    );
    // Each field is there, escaped: the edits landed.
    let shown = html
        .matches("&lt;script&gt;alert(1)&lt;/script&gt;")
        .count();
    assert!(shown >= 5, "the script is shown as text {shown} times");
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let p = Project::sample();
    p.dry_run("one").success();
    p.dry_run("two").success();
    for name in p.files_in("one") {
        assert_eq!(
            std::fs::read(p.path("one").join(&name)).expect("one"),
            std::fs::read(p.path("two").join(&name)).expect("two"),
            "{name} differs between runs"
        );
    }
}

#[test]
fn a_second_dry_run_replaces_its_own_preview() {
    let p = Project::sample();
    p.dry_run("preview").success();
    p.edit(
        "subscribers.example.csv",
        "bob@example.org,Bob Example,",
        "bob@example.org,Bob Example,unsubscribed",
    );
    p.dry_run("preview").success().stdout_has("recipients:   3");
    assert_eq!(paths_in(&p.path("preview"), "eml").len(), 3);
}

#[test]
fn the_list_is_read_with_bom_crlf_quotes_extra_columns_and_duplicates() {
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "\u{feff}email,name,status,joined\r\n\
         a@example.org,\"Smith, Ann\",,2021\r\n\
         A@EXAMPLE.org,Ann again,subscribed,2022\r\n\
         b@example.org,Ben,subscribed,2022\r\n\
         c@example.org,Cy,,2022\r\n\
         C@Example.org,Cy,unsubscribed,2023\r\n",
    );
    p.dry_run("preview")
        .success()
        .stdout_has("recipients:   2")
        // c's last row says unsubscribed: one reader, whose earlier row is
        // their history, not a duplicate.
        .stdout_has("1 unsubscribed, 1 duplicate, 0 invalid");
    let names = p.files_in("preview");
    assert!(
        names.contains(&"000001-a_example.org.eml".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"000002-b_example.org.eml".to_string()),
        "{names:?}"
    );
    // The latest row counts for details: Ann's name is that of her second
    // row; her address keeps the spelling of her first.
    let seen = inspect_eml(&paths_in(&p.path("preview"), "eml"));
    assert_eq!(seen[0]["headers"]["To"], "Ann again <a@example.org>");
}

#[test]
fn bad_rows_are_reported_with_their_lines_and_the_good_ones_still_go() {
    let p = Project::sample();
    p.write(
        "subscribers.example.csv",
        "email,name\n\
         good@example.org,Good\n\
         not-an-address,Bad\n\
         x@example.org,\"two\nlines\"\n\
         y@example.org,Y,extra\n\
         z@example.org,\"=HYPERLINK(1)\"\n",
    );
    // A line is a row: the quote opened on line 4 spoils line 4 only, and
    // line 5 is read (and refused) on its own.
    let run = p.dry_run("preview");
    run.failure()
        .stderr_has("subscribers.example.csv:3: \"not-an-address\" is not an email address")
        .stderr_has("subscribers.example.csv:4: has a quote that is not closed on its line")
        .stderr_has("subscribers.example.csv:5: \"lines\\\"\" is not an email address")
        .stderr_has("subscribers.example.csv:6: has 3 fields, but the header has 2")
        .stdout_has("recipients:   2")
        .stdout_has("0 unsubscribed, 0 duplicate, 4 invalid");
    assert_eq!(paths_in(&p.path("preview"), "eml").len(), 2);
}

#[test]
fn check_passes_the_sample_and_summarises_it() {
    let p = Project::sample();
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("subscribers.example.csv: 4 to send, 1 skipped")
        .stdout_has("5 stories")
        .stdout_has("ok");
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let p = Project::sample();
    for args in [&["--help"][..], &["check", "--help"], &["send", "--help"]] {
        p.bulletin(args).success().stdout_has("Example");
    }
}
