//! `bulletin send` against real SMTP servers; every case checks what the
//! server received, not only what the log says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::servers::{PASSWORD, PySmtp, Silent, SmtpSink, USER};
use crate::util::Project;

const FAST_RETRY: &str = "retry_delay = 0.01\n";

fn counts(received: &[crate::servers::Received]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in received {
        *m.entry(r.rcpt.clone()).or_default() += 1;
    }
    m
}

fn readers(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("r{i}@example.org")).collect()
}

#[test]
fn a_thousand_readers_at_concurrency_8_each_get_exactly_one_copy() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(1000)
        .with_server(sink.port, "", "concurrency = 8");
    p.send(&[]).success().stdout_has("sent:         1000");
    let got = counts(&sink.received());
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), readers(1000));
    assert!(got.values().all(|&n| n == 1), "someone got two copies");
    // The ids the server saw are the ones the log recorded.
    let rows = p.log_rows();
    let sent: BTreeSet<_> = rows
        .iter()
        .filter(|r| r.status == "sent")
        .map(|r| r.message_id.clone())
        .collect();
    let seen: BTreeSet<_> = sink.received().into_iter().map(|r| r.message_id).collect();
    assert_eq!(sent.len(), 1000);
    assert_eq!(sent, seen);
    assert!(p.final_statuses().values().all(|s| s == "sent"));
    assert!(
        rows.iter()
            .filter(|r| r.status == "sent")
            .all(|r| r.code == "250")
    );
}

#[test]
fn a_soft_reject_defers_everyone_and_a_rerun_sends_each_once() {
    let sink = SmtpSink::start(&["-r", "RCPT", "-b", "451 4.7.1 Try again later"]);
    let p = Project::sample();
    p.with_readers(20).with_server(
        sink.port,
        "",
        &format!("concurrency = 4\nmax_attempts = 3\n{FAST_RETRY}"),
    );
    p.send(&[]).failure().stdout_has("deferred:     20");
    assert!(sink.received().is_empty());
    let rows = p.log_rows();
    let deferred: Vec<_> = rows.iter().filter(|r| r.status == "deferred").collect();
    assert_eq!(deferred.len(), 20);
    assert!(
        deferred.iter().all(|r| r.attempts == 3 && r.code == "451"),
        "{deferred:?}"
    );
    assert!(
        deferred[0].detail.contains("4.7.1 Try again later"),
        "{:?}",
        deferred[0]
    );

    let sink = sink.restart(&[]);
    p.edit(
        "config.toml",
        &format!(
            "port = {}",
            p.read("config.toml")
                .lines()
                .find_map(|l| l.strip_prefix("port = "))
                .unwrap_or_default()
        ),
        &format!("port = {}", sink.port),
    );
    p.send(&[]).success().stdout_has("sent:         20");
    let got = counts(&sink.received());
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), readers(20));
    assert!(got.values().all(|&n| n == 1));
}

#[test]
fn a_hard_reject_fails_and_a_rerun_sends_nothing() {
    let sink = SmtpSink::start(&["-f", "RCPT", "-B", "550 5.1.1 No such user"]);
    let p = Project::sample();
    p.with_readers(10)
        .with_server(sink.port, "", "concurrency = 2");
    p.send(&[]).failure().stdout_has("failed:       10");
    let rows = p.log_rows();
    let failed: Vec<_> = rows.iter().filter(|r| r.status == "failed").collect();
    assert_eq!(failed.len(), 10);
    assert!(
        failed.iter().all(|r| r.code == "550" && r.attempts == 1),
        "{failed:?}"
    );
    p.send(&[])
        .failure()
        .stdout_has("Nothing to send")
        .stdout_has("10 failed earlier");
    assert!(sink.received().is_empty());
    assert_eq!(
        p.log_rows().len(),
        rows.len(),
        "a run with nothing due logs nothing"
    );
}

#[test]
fn a_421_holds_back_the_server_and_defers_then_a_rerun_delivers() {
    let sink = SmtpSink::start(&["-Q", "MAIL"]);
    let p = Project::sample();
    p.with_readers(6).with_server(
        sink.port,
        "",
        &format!("concurrency = 2\nmax_attempts = 2\n{FAST_RETRY}"),
    );
    p.send(&[]).failure().stdout_has("deferred:     6");
    let rows = p.log_rows();
    assert!(
        rows.iter().any(|r| r.status == "retry" && r.code == "421"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.status == "deferred")
            .all(|r| r.code == "421")
    );
    assert!(sink.received().is_empty());

    let old = format!("port = {}", sink.port);
    let sink = sink.restart(&[]);
    p.edit("config.toml", &old, &format!("port = {}", sink.port));
    p.send(&[]).success();
    assert_eq!(counts(&sink.received()).len(), 6);
    assert!(counts(&sink.received()).values().all(|&n| n == 1));
}

#[test]
fn a_disconnect_after_the_message_is_unknown_and_resent_only_on_request() {
    let sink = SmtpSink::start(&["-q", "."]);
    let p = Project::sample();
    p.with_readers(4)
        .with_server(sink.port, "", "concurrency = 2");
    p.send(&[]).failure().stdout_has("unknown:      4");
    assert!(p.final_statuses().values().all(|s| s == "unknown"));
    let before = sink.received().len();

    let old = format!("port = {}", sink.port);
    let sink = sink.restart(&[]);
    p.edit("config.toml", &old, &format!("port = {}", sink.port));
    p.send(&[])
        .failure()
        .stdout_has("Nothing to send")
        .stdout_has("4 unknown earlier (--resend-unknown to resend)");
    assert_eq!(
        sink.received().len(),
        before,
        "nothing resent without the flag"
    );
    p.send(&["--resend-unknown"]).success();
    assert_eq!(sink.received().len(), before + 4);
    assert!(p.final_statuses().values().all(|s| s == "sent"));
}

#[test]
fn a_server_that_never_answers_times_out_and_defers() {
    let silent = Silent::start();
    let p = Project::sample();
    p.with_readers(2).with_server(
        silent.port,
        "",
        &format!("concurrency = 2\nmax_attempts = 1\n{FAST_RETRY}"),
    );
    p.edit("config.toml", "timeout_secs = 5", "timeout_secs = 1");
    let run = p.send(&[]);
    run.failure().stdout_has("deferred:     2");
    let rows = p.log_rows();
    assert!(
        rows.iter()
            .filter(|r| r.status == "deferred")
            .all(|r| r.detail.contains("no reply to the greeting within 1s")),
        "{rows:?}"
    );
}

#[test]
fn kill_9_mid_send_then_a_rerun_misses_no_one_and_doubles_only_unknowns() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    let n = 3000;
    let concurrency = 4;
    p.with_readers(n).with_server(
        sink.port,
        "",
        &format!("concurrency = {concurrency}\nrate = 1500"),
    );
    let mut child = p
        .command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    // SIGKILL: no chance to clean up.
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let after_kill = sink.settled().len();
    assert!(
        after_kill > 0 && after_kill < n,
        "killed too early or too late: {after_kill}"
    );
    // The killed run left the space it grew ahead of its rows; `status`
    // reads the rows before it.
    let log = p.path("logs/2022-08-01.csv");
    let killed_log = std::fs::read(&log).expect("log");
    assert!(killed_log.ends_with(&[0]), "no preallocated space left");
    let status = p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"]);
    status.success();
    let logged_sent: usize = status
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("sent:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a sent count");
    assert!(
        logged_sent > 0 && logged_sent <= after_kill,
        "status says {logged_sent} sent, the server has {after_kill}"
    );

    p.send(&["--resend-unknown"]).success();
    let rerun_log = std::fs::read(&log).expect("log");
    assert!(
        !rerun_log.contains(&0) && rerun_log.ends_with(b"\n"),
        "the rerun left zeros in the log"
    );
    let got = counts(&sink.settled());
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        readers(n),
        "someone was missed"
    );
    let twice: BTreeSet<String> = got
        .iter()
        .filter(|&(_, &c)| c > 1)
        .map(|(e, _)| e.clone())
        .collect();
    assert!(got.values().all(|&c| c <= 2));
    assert!(
        twice.len() <= concurrency,
        "{} doubled: {twice:?}",
        twice.len()
    );
    let unknown: BTreeSet<String> = p
        .log_rows()
        .into_iter()
        .filter(|r| r.status == "unknown")
        .map(|r| r.email)
        .collect();
    assert!(unknown.len() <= concurrency, "{unknown:?}");
    assert!(
        twice.is_subset(&unknown),
        "doubled {twice:?} but unknown {unknown:?}"
    );
}

/// The crash rule: no message is handed over before its `sending` row is on
/// disk. When the log cannot be written (here a file-size limit stops it
/// mid-run), the server holds no message the log does not show as sent.
#[test]
fn when_the_log_cannot_be_written_no_message_is_delivered_unlogged() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    let n = 300;
    p.with_readers(n)
        .with_server(sink.port, "", "concurrency = 1");
    let inner = p.command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"]);
    // RLIMIT_FSIZE of 32 blocks (16 or 32 KiB by the shell's unit): writes
    // past it fail with EFBIG. SIGXFSZ is ignored, which exec keeps.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 32; exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(inner.get_current_dir().expect("dir"));
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write the delivery log"), "{stderr}");

    let log = std::fs::read_to_string(p.path("logs/2022-08-01.csv")).expect("log");
    let logged: BTreeSet<String> = log
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.get(2) == Some(&"sending")).then(|| fields[1].to_owned())
        })
        .collect();
    let got = counts(&sink.settled());
    assert!(
        !got.is_empty() && got.len() < n,
        "the limit should stop the run midway: {} received",
        got.len()
    );
    let unlogged: Vec<&String> = got.keys().filter(|r| !logged.contains(*r)).collect();
    assert!(
        unlogged.is_empty(),
        "delivered with no sending row: {unlogged:?}"
    );
}

fn tls_project(server: &PySmtp, security: &str) -> Project {
    let p = Project::sample();
    p.with_readers(3);
    p.edit(
        "config.toml",
        "host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
        &format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"{security}\"\nusername = \"{USER}\"\ntls_ca_file = \"{}\"\ntimeout_secs = 10\n\n[sending]\nconcurrency = 2\n",
            server.port,
            server.cert.display()
        ),
    );
    p
}

fn send_with_password(p: &Project, password: &str) -> crate::util::Run {
    p.bulletin_with(
        &["send", "--issue", "issues/2022-08-01.toml", "--yes"],
        &[("BULLETIN_SMTP_PASSWORD", password)],
    )
}

/// Three readers over TLS with AUTH: all arrive, and the password shows nowhere.
fn delivers_over_tls(security: &str) {
    let server = PySmtp::start(security);
    let p = tls_project(&server, security);
    let run = send_with_password(&p, PASSWORD);
    run.success();
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    let got = counts(&server.received());
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), readers(3));
}

#[test]
fn starttls_with_auth_delivers_to_aiosmtpd() {
    delivers_over_tls("starttls");
}

#[test]
fn implicit_tls_with_auth_delivers_to_aiosmtpd() {
    delivers_over_tls("tls");
}

#[test]
fn a_wrong_password_aborts_at_once_without_saying_it() {
    let server = PySmtp::start("starttls");
    let p = tls_project(&server, "starttls");
    p.with_readers(50);
    let wrong = "not-the-password";
    let run = send_with_password(&p, wrong);
    run.failure().stderr_has("refused AUTH: 535");
    assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong));
    assert!(
        !std::fs::read_to_string(p.path("logs/2022-08-01.csv"))
            .expect("log")
            .contains(wrong)
    );
    assert!(server.received().is_empty());
    // Aborted at once: only the attempts already under way were recorded.
    let attempted = p.final_statuses().len();
    assert!(
        attempted <= 2,
        "{attempted} readers tried after an auth failure"
    );
    // Without the variable, nothing is tried at all.
    p.send(&[]).failure().stderr_has("BULLETIN_SMTP_PASSWORD");
}

#[test]
fn a_changed_issue_is_not_resumed_without_force() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(5)
        .with_server(sink.port, "", "concurrency = 1");
    p.send(&["--limit", "2"])
        .success()
        .stdout_has("sent:         2");
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("sent:         2")
        .stdout_has("not yet sent: 3");
    p.edit(
        "issues/2022-08-01.toml",
        "Both nations agreed",
        "Both countries agreed",
    );
    p.send(&[])
        .failure()
        .stderr_has("changed since")
        .stderr_has("--force");
    assert_eq!(sink.received().len(), 2);
    p.send(&["--force"]).success().stdout_has("sent:         3");
    assert_eq!(counts(&sink.received()).len(), 5);
    p.bulletin(&["status", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stdout_has("sent:         5");
}

#[test]
fn without_a_terminal_a_send_needs_yes() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(2).with_server(sink.port, "", "");
    p.bulletin(&["send", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has("pass --yes");
    assert!(sink.received().is_empty());
}

#[test]
fn a_test_copy_goes_to_one_address_and_leaves_the_log_alone() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(3).with_server(sink.port, "", "");
    p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "editor@example.org",
    ])
    .success()
    .stdout_has("sent to editor@example.org");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt, "editor@example.org");
    assert!(!p.path("logs").exists());
}
