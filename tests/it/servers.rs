//! Real SMTP servers for the tests, started on 127.0.0.1 and stopped when
//! dropped: Postfix's smtp-sink (speed, faults) and aiosmtpd (TLS, AUTH).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::repo_root;

pub const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wait_listening(port: u16, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited at start: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One message as a server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub rcpt: String,
    pub message_id: String,
}

fn header(text: &str, name: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
}

fn read_dump(dir: &Path, rcpt_header: &str) -> Vec<Received> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_some_and(|e| e == "tmp") {
                continue;
            }
            // smtp-sink may be renaming a file it is writing right now.
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
            let rcpt = header(&text, rcpt_header)
                .unwrap_or_default()
                .trim_matches(['<', '>'])
                .to_owned();
            let message_id = header(&text, "Message-ID:").unwrap_or_default();
            out.push(Received { rcpt, message_id });
        }
    }
    out.sort_by(|a, b| a.rcpt.cmp(&b.rcpt));
    out
}

/// Postfix's smtp-sink, each message dumped to its own file.
pub struct SmtpSink {
    pub port: u16,
    dump: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    pub fn start(options: &[&str]) -> Self {
        let dump = tempfile::tempdir().expect("dump dir");
        // smtp-sink drops root for `nobody`, who must write the dumps.
        std::fs::set_permissions(dump.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        Self::start_in(dump, options)
    }

    /// Another sink on a new port writing into the same dump folder.
    pub fn restart(mut self, options: &[&str]) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dump = std::mem::replace(&mut self.dump, tempfile::tempdir().expect("dir"));
        Self::start_in(dump, options)
    }

    fn start_in(dump: tempfile::TempDir, options: &[&str]) -> Self {
        let port = free_port();
        let template = format!("{}/%Y%m%d/msg.", dump.path().display());
        let mut child = Command::new(SMTP_SINK)
            .args(["-u", "nobody", "-d", &template])
            .args(options)
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024")
            .stdout(Stdio::null())
            .spawn()
            .expect("smtp-sink must be installed (scripts/install-test-deps)");
        wait_listening(port, &mut child);
        Self { port, dump, child }
    }

    pub fn received(&self) -> Vec<Received> {
        read_dump(self.dump.path(), "X-Rcpt-Args:")
    }

    /// What it received once it has written everything it was sent.
    pub fn settled(&self) -> Vec<Received> {
        let mut last = self.received();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.received();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd with TLS and AUTH, from tests/support/smtp_server.py.
pub struct PySmtp {
    pub port: u16,
    pub cert: PathBuf,
    out: tempfile::TempDir,
    child: Child,
    _stdin: ChildStdin,
}

pub const USER: &str = "editor";
pub const PASSWORD: &str = "s3cret-passw0rd";

impl PySmtp {
    /// `mode` is "starttls" or "tls"; AUTH is required.
    pub fn start(mode: &str) -> Self {
        let out = tempfile::tempdir().expect("out dir");
        let cert = out.path().join("cert.pem");
        let key = out.path().join("key.pem");
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl failed");
        let mails = out.path().join("mail");
        std::fs::create_dir(&mails).expect("mkdir");
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/support/smtp_server.py"))
            .args(["--mode", mode, "--user", USER, "--password", PASSWORD])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(&mails)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/install-test-deps)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("smtp_server.py said {line:?}"));
        Self {
            port,
            cert,
            out,
            child,
            _stdin: stdin,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        read_dump(&self.out.path().join("mail"), "X-Test-Rcpt:")
    }
}

impl Drop for PySmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that accepts connections and never says a word.
pub struct Silent {
    pub port: u16,
    _listener: TcpListener,
}

impl Silent {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        Self {
            port,
            _listener: listener,
        }
    }
}
