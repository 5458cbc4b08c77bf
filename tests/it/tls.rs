//! TLS of our own, both modes, through stunnel: every reader exactly once,
//! pipelining on as over plaintext, and DKIM signatures that verify after
//! the trip.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::scripted::Scripted;
use crate::servers::{PASSWORD, PySmtp, SmtpSink, Stunnel, USER};
use crate::util::Project;

/// Points the sample config at `port` over `security`, trusting `cert`.
fn tls_config(p: &Project, port: u16, security: &str, cert: &std::path::Path, sending: &str) {
    p.edit(
        "config.toml",
        "host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
        &format!(
            "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\ntls_ca_file = \"{}\"\ntimeout_secs = 10\n\n[sending]\n{sending}\n",
            cert.display()
        ),
    );
}

#[test]
fn both_tls_modes_through_stunnel_reach_smtp_sink_once_per_reader() {
    for security in ["tls", "starttls"] {
        let sink = SmtpSink::start(&[]);
        let tunnel = Stunnel::front(sink.port);
        let port = if security == "tls" {
            tunnel.tls_port
        } else {
            tunnel.starttls_port
        };
        let p = Project::sample();
        p.with_readers(300);
        tls_config(&p, port, security, &tunnel.cert, "concurrency = 4");
        p.send(&[]).success().stdout_has("sent:         300");
        let mut counts = BTreeMap::new();
        for r in sink.settled() {
            *counts.entry(r.rcpt).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 300, "{security}");
        assert!(
            counts.values().all(|&n| n == 1),
            "{security}: a reader got two"
        );
    }
}

#[test]
fn pipelining_and_the_one_write_data_phase_work_over_tls_as_over_plaintext() {
    for security in ["tls", "starttls"] {
        let server = Scripted::accepting();
        let tunnel = Stunnel::front(server.port);
        let port = if security == "tls" {
            tunnel.tls_port
        } else {
            tunnel.starttls_port
        };
        let p = Project::sample();
        p.with_readers(20);
        tls_config(&p, port, security, &tunnel.cert, "concurrency = 1");
        p.dry_run("preview").success();
        p.send(&[]).success().stdout_has("sent:         20");
        let messages = server.messages();
        assert_eq!(messages.len(), 20);
        let pipelined = server.log.lock().expect("log").pipelined;
        assert_eq!(
            pipelined, 20,
            "{security}: MAIL, RCPT and DATA not sent together"
        );
        // And the bytes are exactly the dry-run's.
        for m in messages {
            let safe = m.rcpt[0].replace('@', "_");
            let name = p
                .files_in("preview")
                .into_iter()
                .find(|f| f.ends_with(&format!("-{safe}.eml")))
                .expect("eml");
            let eml = std::fs::read(p.path(&format!("preview/{name}"))).expect("eml");
            assert!(m.data == eml, "{security}: {} differs", m.rcpt[0]);
        }
    }
}

#[test]
fn a_certificate_the_client_does_not_trust_ends_the_run_and_nothing_is_sent() {
    let sink = SmtpSink::start(&[]);
    let tunnel = Stunnel::front(sink.port);
    let other = Stunnel::front(sink.port);
    let p = Project::sample();
    p.with_readers(5);
    // Trusting another certificate than the server's.
    tls_config(
        &p,
        tunnel.starttls_port,
        "starttls",
        &other.cert,
        "concurrency = 2",
    );
    p.send(&[]).failure().stderr_has(&format!(
        "cannot connect to 127.0.0.1:{}: TLS handshake failed",
        tunnel.starttls_port
    ));
    assert!(sink.received().is_empty());
    assert!(p.final_statuses().values().all(|s| s == "deferred"));
}

/// Signed by our signer, carried over TLS (aiosmtpd, with AUTH), and
/// verified by dkimpy as received; a changed header or body fails.
#[test]
fn dkim_signatures_verify_after_transit_over_tls_for_every_key_kind() {
    for (kind, security) in [
        ("rsa", "starttls"),
        ("rsa-pkcs8", "tls"),
        ("ed25519", "starttls"),
    ] {
        let server = PySmtp::start(security);
        let p = Project::sample();
        p.with_readers(3);
        let (key, record) = crate::compliance::dkim_key(&p.path("."), kind);
        p.write("record.txt", &record);
        p.edit(
            "config.toml",
            "host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n",
            &format!(
                "host = \"127.0.0.1\"\nport = {}\nsecurity = \"{security}\"\nusername = \"{USER}\"\ntls_ca_file = \"{}\"\n",
                server.port,
                server.cert.display()
            ),
        );
        p.with_dkim(&key);
        p.bulletin_with(
            &["send", "--issue", "issues/2022-08-01.toml", "--yes"],
            &[("BULLETIN_SMTP_PASSWORD", PASSWORD)],
        )
        .success();
        let mut files: Vec<PathBuf> = Vec::new();
        for (i, raw) in server.raw_messages().into_iter().enumerate() {
            let path = p.path(&format!("got{i}.eml"));
            std::fs::write(&path, &raw).expect("write");
            files.push(path);
        }
        assert_eq!(files.len(), 3);
        let text = std::fs::read_to_string(&files[0]).expect("eml");
        for (i, changed) in [
            text.replacen("Subject: US-Japan", "Subject: US-Japon", 1),
            text.replacen("Blinken", "Blinkin", 1),
        ]
        .iter()
        .enumerate()
        {
            assert_ne!(changed, &text);
            let path = p.path(&format!("tampered{i}.eml"));
            std::fs::write(&path, changed).expect("write");
            files.push(path);
        }
        let verdicts = crate::util::python_json(
            "dkim_verify.py",
            &[vec![p.path("record.txt")], files].concat(),
        );
        let ok: Vec<bool> = verdicts.iter().map(|v| v["ok"] == true).collect();
        assert_eq!(
            ok,
            [true, true, true, false, false],
            "{kind} over {security}: {verdicts:?}"
        );
    }
}

/// A relay that does not offer STARTTLS when the config asks for it: the
/// run stops before anything is sent, and nothing goes out in plaintext.
#[test]
fn a_server_without_starttls_is_refused_before_anything_is_sent() {
    let sink = SmtpSink::start(&[]);
    let p = Project::sample();
    p.with_readers(5);
    let cert = p.path("unused.pem");
    tls_config(&p, sink.port, "starttls", &cert, "concurrency = 2");
    // Any certificate will do as a root: the connection never gets there.
    let tunnel = Stunnel::front(sink.port);
    p.edit(
        "config.toml",
        &format!("tls_ca_file = \"{}\"", cert.display()),
        &format!("tls_ca_file = \"{}\"", tunnel.cert.display()),
    );
    // Said once, with how to send to a local relay without TLS.
    let run = p.send(&[]);
    run.failure()
        .stderr_has(&format!("127.0.0.1:{} does not offer STARTTLS", sink.port))
        .stderr_has("security = \"none\"");
    assert!(
        !run.stderr
            .contains(&format!("127.0.0.1:{0}: 127.0.0.1:{0}", sink.port)),
        "{}",
        run.stderr
    );
    assert!(sink.received().is_empty());
    assert!(p.final_statuses().values().all(|s| s == "deferred"));
    // A test copy says it once too.
    let copy = p.bulletin(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--to",
        "ed@example.org",
    ]);
    copy.failure().stderr_has("does not offer STARTTLS");
    assert!(
        !copy
            .stderr
            .contains(&format!("127.0.0.1:{0}: 127.0.0.1:{0}", sink.port)),
        "{}",
        copy.stderr
    );
}

/// A plaintext server on a free port that answers each connection with
/// `script`: for each line it reads (the greeting first, on connect), the
/// bytes to write, all in one write.
fn stuffing_server(script: &'static [&'static [u8]]) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut out = stream;
            for (i, bytes) in script.iter().enumerate() {
                if i > 0 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                }
                if out.write_all(bytes).is_err() {
                    break;
                }
            }
        }
    });
    port
}

/// Someone on the network pre-loads replies: into the greeting (so every
/// later reply would be read out of step with its command, and a reader
/// logged `sent` on their RCPT reply), or after STARTTLS's go-ahead (so it
/// would pass for the TLS session's). Either is refused: the run stops and
/// nobody is marked.
#[test]
fn replies_stuffed_before_the_tls_handshake_are_refused() {
    static STUFFED_GREETING: &[&[u8]] = &[b"220 a\r\n250-X\r\n250 AUTH LOGIN\r\n220 b\r\n"];
    static AFTER_STARTTLS: &[&[u8]] = &[
        b"220 relay ESMTP\r\n",
        b"250-relay\r\n250 STARTTLS\r\n",
        b"220 go ahead\r\n250 2.0.0 injected\r\n",
    ];
    for (script, says) in [
        (STUFFED_GREETING, "bytes after the server's"),
        (AFTER_STARTTLS, "bytes after the server's 220 reply"),
    ] {
        let port = stuffing_server(script);
        let sink = SmtpSink::start(&[]);
        let tunnel = Stunnel::front(sink.port);
        let p = Project::sample();
        p.with_readers(5);
        tls_config(&p, port, "starttls", &tunnel.cert, "concurrency = 1");
        p.send(&[]).failure().stderr_has(says);
        let st = p.final_statuses();
        assert!(st.values().all(|s| s == "deferred"), "{st:?}");
    }
}
