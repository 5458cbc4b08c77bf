//! The first ten minutes: `init` writes a set-up that checks and previews
//! as it is, and refuses to write over anything; completions and the
//! manual page come from the same definitions as the parser.

use std::process::Command;

use crate::util::Project;

const DAY: &str = "1659348000"; // 2022-08-01, as SOURCE_DATE_EPOCH

#[test]
fn init_writes_a_starter_that_checks_and_previews_as_it_is() {
    let p = Project::sample();
    p.bulletin_with(&["init", "news"], &[("SOURCE_DATE_EPOCH", DAY)])
        .success()
        .stdout_has("news/config.toml")
        .stdout_has("bulletin send --issue issues/2022-08-01.toml --dry-run --out preview");
    let dir = p.path("news");
    assert_eq!(
        std::fs::read_to_string(dir.join("subscribers.csv")).expect("list"),
        "email,name,status,changed\n"
    );
    let issue = std::fs::read_to_string(dir.join("issues/2022-08-01.toml")).expect("issue");
    assert!(issue.contains("date = 2022-08-01"), "{issue}");
    // From inside the new folder, as the printed next step says.
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bulletin"))
            .args(args)
            .current_dir(&dir)
            .env_remove("BULLETIN_UNSUBSCRIBE_SECRET")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["check", "--issue", "issues/2022-08-01.toml"]);
    let out = run(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--dry-run",
        "--out",
        "preview",
    ]);
    assert!(out.contains("recipients:   0"), "{out}");
    let html = std::fs::read_to_string(dir.join("preview/preview.html")).expect("preview");
    assert!(html.contains("Welcome to the Example Newsletter"));
    // The list it made takes a subscriber.
    run(&["subscribe", "ann@example.org"]);
    assert!(
        std::fs::read_to_string(dir.join("subscribers.csv"))
            .expect("list")
            .contains("ann@example.org")
    );
}

#[test]
fn init_writes_nothing_when_any_of_its_files_is_there() {
    let p = Project::sample();
    p.write("news/subscribers.csv", "email\nkeep@example.org\n");
    p.bulletin_with(&["init", "news"], &[("SOURCE_DATE_EPOCH", DAY)])
        .failure()
        .stderr_has("news/subscribers.csv: already exists");
    assert_eq!(p.read("news/subscribers.csv"), "email\nkeep@example.org\n");
    assert!(!p.path("news/config.toml").exists());
    assert!(!p.path("news/issues").exists());
    // The repository's own folder is a set-up already.
    p.bulletin(&["init", "."])
        .failure()
        .stderr_has("config.toml: already exists");
}

#[test]
fn completions_are_scripts_the_shells_accept() {
    let p = Project::sample();
    let bash = p.bulletin(&["completions", "bash"]);
    bash.success()
        .stdout_has("_bulletin()")
        .stdout_has("--dry-run");
    p.write("bulletin.bash", &bash.stdout);
    let checked = Command::new("bash")
        .arg("-n")
        .arg(p.path("bulletin.bash"))
        .output()
        .expect("bash");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    p.bulletin(&["completions", "zsh"])
        .success()
        .stdout_has("#compdef bulletin");
    p.bulletin(&["completions", "fish"])
        .success()
        .stdout_has("complete -c bulletin");
    // A shell clap does not know is a usage error: exit 2, like any other.
    let tcsh = p.bulletin(&["completions", "tcsh"]);
    assert_eq!(tcsh.code, Some(2), "{tcsh:?}");
    tcsh.stderr_has("invalid value 'tcsh'");
}

#[test]
fn the_manual_page_documents_every_command_and_option() {
    let p = Project::sample();
    let man = p.bulletin(&["man"]);
    man.success().stdout_has(".TH bulletin 1");
    for sub in [
        "check",
        "send",
        "subscribe",
        "unsubscribe",
        "list",
        "status",
        "init",
    ] {
        man.stdout_has(&format!(".SS \"bulletin {sub}\""));
    }
    man.stdout_has("\\fB\\-\\-retry\\-failed\\fR")
        .stdout_has("\\fB\\-\\-json\\fR");
    // No pointer to a page that does not exist (`bulletin-check(1)`).
    assert!(
        !man.stdout.contains("bulletin\\-check(1)"),
        "{}",
        man.stdout
    );
}
