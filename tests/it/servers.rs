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

pub fn free_port() -> u16 {
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

/// A self-signed certificate for localhost and 127.0.0.1 in `dir`, as
/// rustls takes it (basicConstraints CA:FALSE): (certificate, key).
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
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
    (cert, key)
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

    /// A sink on `port` (one a test kept free while "the relay was down").
    pub fn start_on(port: u16, options: &[&str]) -> Self {
        let dump = tempfile::tempdir().expect("dump dir");
        std::fs::set_permissions(dump.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        Self::start_at(dump, port, options)
    }

    fn start_in(dump: tempfile::TempDir, options: &[&str]) -> Self {
        Self::start_at(dump, free_port(), options)
    }

    fn start_at(dump: tempfile::TempDir, port: u16, options: &[&str]) -> Self {
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

    /// Where it writes each message it receives.
    pub fn dump_dir(&self) -> PathBuf {
        self.dump.path().to_path_buf()
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
        let (cert, key) = test_certificate(out.path());
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

    /// Each message exactly as received, without the server's own
    /// `X-Test-Rcpt:` lines.
    pub fn raw_messages(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.out.path().join("mail"))
            .expect("mail dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let mut raw = std::fs::read(p).expect("read");
                while raw.starts_with(b"X-Test-Rcpt:") {
                    let end = raw
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(raw.len(), |i| i + 1);
                    raw.drain(..end);
                }
                raw
            })
            .collect()
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

/// A whole Postfix, as root, with its own configuration, queue and logs
/// in a temporary folder: STARTTLS on a loopback port, SMTPUTF8, and every
/// address delivered into one Maildir.
pub struct Postfix {
    pub port: u16,
    pub cert: PathBuf,
    dir: tempfile::TempDir,
}

impl Postfix {
    pub fn start() -> Self {
        Self::start_with(&[], "")
    }

    /// The same, relaying mail for `domain` to `relay_port` on 127.0.0.1
    /// (an smtp-sink that refuses every recipient makes Postfix return
    /// real DSNs, RFC 3464, to the envelope sender, into the Maildir).
    pub fn relaying(domain: &str, relay_port: u16) -> Self {
        Self::start_with(&[(domain, relay_port)], "")
    }

    /// Relaying each domain to its port.
    pub fn relaying_each(routes: &[(&str, u16)]) -> Self {
        Self::start_with(routes, "")
    }

    /// A relay that takes mail only for `mailboxes` and refuses any
    /// sender it has no mailbox for (`smtpd_reject_unlisted_sender`), with
    /// no `recipient_delimiter`: a VERP sender `bounces+…@example.org` is
    /// refused at RCPT with Postfix's own "Sender address rejected".
    pub fn strict_sender(mailboxes: &[&str]) -> Self {
        let domains: std::collections::BTreeSet<&str> = mailboxes
            .iter()
            .filter_map(|m| m.split('@').nth(1))
            .collect();
        let domains: Vec<&str> = domains.into_iter().collect();
        let listed: Vec<String> = mailboxes.iter().map(|m| format!("{m}=inbox/")).collect();
        Self::start_with(
            &[],
            &format!(
                "virtual_mailbox_domains = {}\nvirtual_mailbox_maps = inline:{{ {} }}\nsmtpd_reject_unlisted_sender = yes\n",
                domains.join(", "),
                listed.join(", ")
            ),
        )
    }

    fn start_with(relay: &[(&str, u16)], extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        // Postfix's daemons run as `postfix` and deliver as `nobody`.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["conf", "queue", "data", "mail"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let chown = |path: &Path, user: &str| {
            let ok = Command::new("chown")
                .arg(user)
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chown {user} {}: the Postfix tests run as root",
                path.display()
            );
        };
        chown(&d.join("data"), "postfix");
        chown(&d.join("mail"), "nobody");
        let (cert, key) = test_certificate(d);
        let port = free_port();
        let d_s = d.display();
        std::fs::write(
            d.join("conf/main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {d_s}/queue
data_directory = {d_s}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
{}virtual_mailbox_base = {d_s}/mail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtpd_tls_cert_file = {}
smtpd_tls_key_file = {}
smtpd_tls_security_level = may
smtpd_recipient_restrictions = permit_mynetworks, reject
mynetworks = 127.0.0.0/8
smtputf8_enable = yes
maillog_file = {d_s}/postfix.log
maillog_file_prefixes = {d_s}
{}",
                if extra.is_empty() {
                    "virtual_mailbox_domains = static:all\nvirtual_mailbox_maps = static:inbox/\n"
                        .to_owned()
                } else {
                    extra.to_owned()
                },
                cert.display(),
                key.display(),
                if relay.is_empty() {
                    String::new()
                } else {
                    format!(
                        "transport_maps = texthash:{d_s}/conf/transport\nsmtp_tls_security_level = none\nbounce_queue_lifetime = 0\n"
                    )
                }
            ),
        )
        .expect("main.cf");
        if !relay.is_empty() {
            let routes: String = relay
                .iter()
                .map(|(domain, port)| format!("{domain} smtp:[127.0.0.1]:{port}\n"))
                .collect();
            std::fs::write(d.join("conf/transport"), routes).expect("transport");
        }
        // No chroot: the queue is ours, with no copy of /etc inside.
        let services = [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ];
        let master = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n{}\n",
            services.join("\n")
        );
        std::fs::write(d.join("conf/master.cf"), master).expect("master.cf");
        let out = Command::new("postfix")
            .arg("-c")
            .arg(d.join("conf"))
            .arg("start")
            .output()
            .expect("postfix must be installed (scripts/install-test-deps)");
        assert!(
            out.status.success(),
            "postfix start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(d.join("postfix.log")).unwrap_or_default()
        );
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "postfix never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { port, cert, dir }
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/inbox")
    }

    /// Waits until `n` messages are delivered (or 60 s have passed).
    pub fn wait_for(&self, n: usize) -> usize {
        let start = Instant::now();
        loop {
            let got = std::fs::read_dir(self.maildir().join("new")).map_or(0, |d| d.count());
            if got >= n || start.elapsed() > Duration::from_secs(60) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.dir.path().join("conf"))
            .arg("stop")
            .output();
    }
}

/// stunnel in front of a plaintext SMTP server on `backend`: implicit TLS
/// on `tls_port`, STARTTLS (stunnel's `protocol = smtp`) on `starttls_port`.
pub struct Stunnel {
    pub tls_port: u16,
    pub starttls_port: u16,
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Stunnel {
    pub fn front(backend: u16) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = test_certificate(dir.path());
        let (tls_port, starttls_port) = (free_port(), free_port());
        let conf = dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[tls]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{backend}\ncert = {c}\nkey = {k}\n[starttls]\naccept = 127.0.0.1:{starttls_port}\nconnect = 127.0.0.1:{backend}\nprotocol = smtp\ncert = {c}\nkey = {k}\n",
                c = cert.display(),
                k = key.display()
            ),
        )
        .expect("stunnel.conf");
        let mut child = Command::new("stunnel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel must be installed (scripts/install-test-deps)");
        wait_listening(tls_port, &mut child);
        wait_listening(starttls_port, &mut child);
        Self {
            tls_port,
            starttls_port,
            cert,
            _dir: dir,
            child,
        }
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Dovecot as an IMAPS server on a loopback port, with one user
/// (`bounces@example.org`, password `secret`) whose mail is `maildir` (a
/// copy, owned by `nobody`: Dovecot moves and renames files as it works).
pub struct Dovecot {
    pub port: u16,
    pub cert: PathBuf,
    pub maildir: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
}

impl Dovecot {
    pub fn start(maildir: &Path) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["run", "state", "home"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let mail = d.join("mail");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(maildir)
            .arg(&mail)
            .status()
            .is_ok_and(|s| s.success());
        assert!(copied, "cp -a {}", maildir.display());
        let owned = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(&mail)
            .status()
            .is_ok_and(|s| s.success());
        assert!(owned, "chown: the Dovecot test runs as root");
        let (cert, key) = test_certificate(d);
        std::fs::write(d.join("users"), "bounces@example.org:{PLAIN}secret\n").expect("users");
        let port = free_port();
        let d_s = d.display();
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                "base_dir = {d_s}/run
state_dir = {d_s}/state
log_path = {d_s}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{}
ssl_key = <{}
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d_s}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d_s}/home/%u mail=maildir:{}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
",
                cert.display(),
                key.display(),
                mail.display()
            ),
        )
        .expect("dovecot.conf");
        let mut child = Command::new("dovecot")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot must be installed (scripts/install-test-deps)");
        wait_listening(port, &mut child);
        Self {
            port,
            cert,
            maildir: mail,
            dir,
            child,
        }
    }

    /// The messages flagged \Seen, by their file names in cur/.
    pub fn seen(&self) -> usize {
        std::fs::read_dir(self.maildir.join("cur")).map_or(0, |d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .rsplit_once(":2,")
                        .is_some_and(|(_, f)| f.contains('S'))
                })
                .count()
        })
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("stop")
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
