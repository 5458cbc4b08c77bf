//! Test helpers: a scratch copy of the sample project and a runner for the
//! built binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unsubscribe secret every test run of bulletin gets.
pub const UNSUBSCRIBE_SECRET: &str = "test-unsubscribe-secret";

/// Monday, 1 August 2022, 10:00 UTC: the date every test message carries.
pub const PINNED_EPOCH: &str = "1659348000";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary folder holding the sample config, issue and subscriber list.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn sample() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = repo_root();
        std::fs::create_dir_all(dir.path().join("issues")).expect("mkdir");
        for file in [
            "config.toml",
            "subscribers.example.csv",
            "issues/2022-08-01.toml",
        ] {
            std::fs::copy(root.join(file), dir.path().join(file)).expect("copy sample");
        }
        Self { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write");
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    /// Replaces `from` with `to` in a file; the text must be there.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}");
        self.write(rel, text.replacen(from, to, 1))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulletin"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("SOURCE_DATE_EPOCH", PINNED_EPOCH)
            .env_remove("BULLETIN_SMTP_PASSWORD")
            .env("BULLETIN_UNSUBSCRIBE_SECRET", UNSUBSCRIBE_SECRET)
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn bulletin(&self, args: &[&str]) -> Run {
        self.bulletin_with(args, &[])
    }

    pub fn bulletin_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run bulletin");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn dry_run(&self, out: &str) -> Run {
        self.bulletin(&[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--dry-run",
            "--out",
            out,
        ])
    }

    /// A dry-run of the sample issue as a new issue would go: with a
    /// delivery log of its own that no send wrote (so every reader on the
    /// list is due), as after a send the tests want every reader's .eml.
    pub fn dry_run_fresh(&self, out: &str) -> Run {
        let log = format!("{out}.no-send-yet.csv");
        self.bulletin(&[
            "send",
            "--issue",
            "issues/2022-08-01.toml",
            "--dry-run",
            "--out",
            out,
            "--log",
            &log,
        ])
    }

    /// `send --yes` of the sample issue, with more arguments.
    pub fn send(&self, more: &[&str]) -> Run {
        let mut args = vec!["send", "--issue", "issues/2022-08-01.toml", "--yes"];
        args.extend_from_slice(more);
        self.bulletin(&args)
    }

    /// A list of `n` readers, r0@example.org to r{n-1}@example.org.
    pub fn with_readers(&self, n: usize) -> &Self {
        let mut csv = String::from("email,name\n");
        for i in 0..n {
            csv.push_str(&format!("r{i}@example.org,Reader {i}\n"));
        }
        self.write("subscribers.example.csv", csv)
    }

    /// `n` readers spread over `domains` domains (`r{i}@d{i % domains}.example.org`).
    pub fn with_readers_on(&self, n: usize, domains: usize) -> &Self {
        let mut csv = String::from("email,name\n");
        for i in 0..n {
            csv.push_str(&format!("r{i}@d{}.example.org,Reader {i}\n", i % domains));
        }
        self.write("subscribers.example.csv", csv)
    }

    /// Points the config at a server on `port` and adds `extra` (TOML)
    /// after the [smtp] keys; `sending` becomes the [sending] section.
    pub fn with_server(&self, port: u16, extra: &str, sending: &str) -> &Self {
        self.edit(
            "config.toml",
            "port = 2525\nsecurity = \"none\"\n",
            &format!("port = {port}\nsecurity = \"none\"\ntimeout_secs = 5\n{extra}\n[sending]\n{sending}\n"),
        )
    }

    /// Signs with `key` for example.org, selector `bulletin`.
    pub fn with_dkim(&self, key: &Path) -> &Self {
        self.edit(
            "config.toml",
            "# [dkim]",
            &format!(
                "[dkim]\ndomain = \"example.org\"\nselector = \"bulletin\"\nprivate_key = \"{}\"\n# [dkim]",
                key.display()
            ),
        )
    }

    /// The delivery log's rows, as (timestamp, email, status, attempts, code, detail, message_id).
    pub fn log_rows(&self) -> Vec<LogRow> {
        self.log_rows_of("logs/2022-08-01.csv")
    }

    /// The rows of the delivery log at `log` (relative to the project).
    pub fn log_rows_of(&self, log: &str) -> Vec<LogRow> {
        let mut reader = csv::Reader::from_path(self.path(log)).expect("log");
        reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                LogRow {
                    timestamp: r[0].to_owned(),
                    email: r[1].to_owned(),
                    status: r[2].to_owned(),
                    attempts: r[3].parse().expect("attempts"),
                    code: r[4].to_owned(),
                    detail: r[5].to_owned(),
                    message_id: r[6].to_owned(),
                }
            })
            .collect()
    }

    /// Each address's last status in the log.
    pub fn final_statuses(&self) -> std::collections::BTreeMap<String, String> {
        self.log_rows()
            .into_iter()
            .filter(|r| !r.email.is_empty())
            .map(|r| (r.email, r.status))
            .collect()
    }

    pub fn files_in(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(rel))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every entry in the project folder, hidden ones included.
    pub fn top_level(&self) -> Vec<String> {
        self.files_in(".")
    }
}

#[derive(Debug, Clone)]
pub struct LogRow {
    pub timestamp: String,
    pub email: String,
    pub status: String,
    pub attempts: u32,
    pub code: String,
    pub detail: String,
    pub message_id: String,
}

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// Failed the way a bad input should: exit 1, no panic, a message.
    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert_eq!(self.code, Some(1), "expected exit 1: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        assert!(!self.stderr.trim().is_empty(), "no message: {self:#?}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// What Python's `email` package (policy default) makes of .eml files.
pub fn inspect_eml(files: &[PathBuf]) -> Vec<serde_json::Value> {
    python_json("inspect_eml.py", files)
}

/// Runs tests/support/SCRIPT with `args`; it prints one JSON object a line.
pub fn python_json(script: &str, args: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/support").join(script))
        .args(args)
        .output()
        .expect("python3 must be installed to run these tests");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

pub fn paths_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Every file in `dir` and the folders in it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
