//! One-click unsubscribe headers, DKIM verified by dkimpy, and the
//! pre-send check.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Project, inspect_eml, paths_in, python_json};

#[test]
fn every_message_carries_one_click_unsubscribe_headers() {
    let p = Project::sample();
    p.dry_run("preview").success();
    for m in inspect_eml(&paths_in(&p.path("preview"), "eml")) {
        assert_eq!(m["defects"], serde_json::json!([]));
        let h = &m["headers"];
        let lu = h["List-Unsubscribe"].as_str().expect("List-Unsubscribe");
        assert!(
            lu.starts_with("<https://alliance-digest.example.org/unsubscribe/"),
            "{lu}"
        );
        // The mailto carries the same token, in the subject.
        let token = lu
            .split("/unsubscribe/")
            .nth(1)
            .and_then(|t| t.split('>').next())
            .expect("token");
        assert!(
            lu.ends_with(&format!(
                ", <mailto:unsubscribe@example.org?subject=unsubscribe-{token}>"
            )),
            "{lu}"
        );
        assert_eq!(h["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    }
}

#[test]
fn a_dry_run_without_the_secret_says_its_links_are_placeholders_and_send_refuses() {
    let p = Project::sample();
    let mut cmd = p.command(&[
        "send",
        "--issue",
        "issues/2022-08-01.toml",
        "--dry-run",
        "--out",
        "preview",
    ]);
    cmd.env_remove("BULLETIN_UNSUBSCRIBE_SECRET");
    let out = cmd.output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder token"));
    assert!(p.read("preview/preview.txt").contains("PREVIEW-TOKEN"));
    let mut cmd = p.command(&["send", "--issue", "issues/2022-08-01.toml", "--yes"]);
    cmd.env_remove("BULLETIN_UNSUBSCRIBE_SECRET");
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BULLETIN_UNSUBSCRIBE_SECRET"));
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key pair in `dir`: (private key path, DNS TXT record).
pub fn dkim_key(dir: &Path, kind: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{kind}.pem"));
    let k = key.to_str().expect("path");
    let record = match kind {
        "rsa" | "rsa-pkcs8" => {
            if kind == "rsa" {
                openssl(&["genrsa", "-traditional", "-out", k, "2048"]);
            } else {
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    k,
                ]);
                assert!(
                    std::fs::read_to_string(&key)
                        .expect("key")
                        .contains("BEGIN PRIVATE KEY")
                );
            }
            let pem = String::from_utf8(openssl(&["rsa", "-in", k, "-pubout"])).expect("pem");
            let p: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            format!("v=DKIM1; k=rsa; p={p}")
        }
        _ => {
            openssl(&["genpkey", "-algorithm", "ed25519", "-out", k]);
            let der = openssl(&["pkey", "-in", k, "-pubout", "-outform", "DER"]);
            use base64::Engine;
            let p = base64::engine::general_purpose::STANDARD.encode(&der[der.len() - 32..]);
            format!("v=DKIM1; k=ed25519; p={p}")
        }
    };
    (key, record)
}

/// dkimpy's verdict on each file, with the key record in `record_file`.
pub fn dkim_verify(record_file: &Path, emls: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut args = vec![record_file.to_path_buf()];
    args.extend_from_slice(emls);
    python_json("dkim_verify.py", &args)
}

fn signed_dry_run(kind: &str) {
    let p = Project::sample();
    let (key, record) = dkim_key(&p.path("."), kind);
    p.write("record.txt", &record);
    p.with_dkim(&key);
    p.dry_run("preview").success();
    let emls = paths_in(&p.path("preview"), "eml");
    for v in dkim_verify(&p.path("record.txt"), &emls) {
        assert_eq!(v["ok"], true, "{v}");
        let sig = v["signature"].as_str().expect("sig");
        // The tags, parsed (RFC 6376 3.2): `name=value` between semicolons,
        // white space inside values dropped. Never a substring search over
        // the whole field, which `b=` and `bh=` could satisfy.
        let value = sig.strip_prefix("DKIM-Signature:").unwrap_or(sig);
        let tags: std::collections::HashMap<String, String> = value
            .split(';')
            .filter_map(|tag| tag.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.split_whitespace().collect()))
            .collect();
        assert_eq!(tags["c"], "relaxed/relaxed", "{sig}");
        assert_eq!(tags["d"], "example.org", "{sig}");
        assert_eq!(tags["s"], "bulletin", "{sig}");
        // The exact fields signed, in order, each once more than it
        // occurs, and Cc and Reply-To (not in the sample) as absent.
        assert_eq!(
            tags["h"],
            "from:from:to:to:subject:subject:date:date:message-id:message-id:cc:reply-to:\
             mime-version:mime-version:content-type:content-type:list-id:list-id:\
             list-unsubscribe:list-unsubscribe:list-unsubscribe-post:list-unsubscribe-post"
        );
    }
    // Tampering breaks it: a changed word in the body, and a changed subject.
    let raw = std::fs::read_to_string(&emls[0]).expect("eml");
    let body = raw.replacen("Blinken", "Blinkin", 1);
    let subject = raw.replacen("Subject: US-Japan", "Subject: US-Japon", 1);
    assert!(body != raw && subject != raw);
    // A replayed copy with a field added, above the signature or below
    // ours: each was signed as absent once more, so each breaks it.
    let after_signature = |field: &str| {
        let at = raw.find("\r\nFrom:").expect("From") + 2;
        format!("{}{field}\r\n{}", &raw[..at], &raw[at..])
    };
    let added = [
        format!("Subject: You won a prize\r\n{raw}"),
        after_signature("Subject: You won a prize"),
        after_signature("Reply-To: thief@example.net"),
        after_signature("Cc: victim@example.net"),
        format!("List-Unsubscribe: <https://evil.example/u>\r\n{raw}"),
        after_signature("To: someone@example.net"),
    ];
    let tampered: Vec<PathBuf> = [body, subject]
        .into_iter()
        .chain(added)
        .enumerate()
        .map(|(i, text)| {
            let path = p.path(&format!("tampered{i}.eml"));
            std::fs::write(&path, text).expect("write");
            path
        })
        .collect();
    let verdicts = dkim_verify(&p.path("record.txt"), &tampered);
    assert_eq!(verdicts.len(), 8);
    for v in verdicts {
        assert_eq!(v["ok"], false, "tampering not detected: {v}");
    }
}

#[test]
fn rsa_dkim_signatures_verify_with_dkimpy_and_tampering_breaks_them() {
    signed_dry_run("rsa");
}

#[test]
fn rsa_keys_in_pkcs8_sign_as_well() {
    signed_dry_run("rsa-pkcs8");
}

#[test]
fn ed25519_dkim_signatures_verify_with_dkimpy() {
    signed_dry_run("ed25519");
}

#[test]
fn a_bad_dkim_key_is_named_before_anything_is_written() {
    let p = Project::sample();
    p.write("key.pem", "not a key");
    p.edit(
        "config.toml",
        "# [dkim]",
        "[dkim]\ndomain = \"example.org\"\nselector = \"s\"\nprivate_key = \"key.pem\"\n# [dkim]",
    );
    p.dry_run("preview")
        .failure()
        .stderr_has("key.pem: not a PEM private key");
    assert!(!p.path("preview").exists());
}

#[test]
fn the_pre_send_check_warns_and_strict_makes_warnings_errors() {
    let p = Project::sample();
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml", "--strict"])
        .success();
    // No unsubscribe, no postal address, DKIM for another domain.
    let text = p.read("config.toml");
    let start = text.find("[unsubscribe]").expect("section");
    let end = text[start..].find("\n\n").map_or(text.len(), |i| start + i);
    p.write("config.toml", format!("{}{}", &text[..start], &text[end..]));
    p.edit(
        "config.toml",
        "postal_address = \"\"\"",
        "old_address = \"\"\"",
    );
    let text = p.read("config.toml");
    let start = text.find("old_address").expect("old");
    let end = start + text[start..].find("\"\"\"\n").expect("end") + 4;
    let end = end + text[end..].find("\"\"\"\n").expect("close") + 4;
    p.write("config.toml", format!("{}{}", &text[..start], &text[end..]));
    let (key, _) = dkim_key(&p.path("."), "ed25519");
    p.edit(
        "config.toml",
        "# [dkim]",
        &format!(
            "[dkim]\ndomain = \"other.example\"\nselector = \"s\"\nprivate_key = \"{}\"\n# [dkim]",
            key.display()
        ),
    );
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("warning: no [unsubscribe] section")
        .stderr_has("warning: the From domain example.org is not aligned with the DKIM domain other.example")
        .stderr_has("warning: no `postal_address`");
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml", "--strict"])
        .failure()
        .stderr_has("3 problems");
}

#[test]
fn big_lists_without_dkim_are_warned_about_and_an_html_part_gmail_clips_refused() {
    let p = Project::sample();
    p.with_readers(5001);
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .success()
        .stderr_has("no [dkim] key, and 5001 readers is more than 5000");
    // A real send with --strict refuses before touching the server or the log.
    p.send(&["--strict"])
        .failure()
        .stderr_has("--strict: not sending");
    assert!(!p.path("logs").exists());
    // About 110 KB of HTML: past what Gmail shows before it clips the
    // message (and its footer with the unsubscribe link). Refused, with
    // the size, by check, the dry-run and send alike; nothing written.
    let huge = "word ".repeat(22_000);
    p.edit(
        "issues/2022-08-01.toml",
        "Both nations agreed",
        &format!("{huge} Both nations agreed"),
    );
    let refusal = "issues/2022-08-01.toml: the HTML part is 11";
    p.bulletin(&["check", "--issue", "issues/2022-08-01.toml"])
        .failure()
        .stderr_has(refusal)
        .stderr_has("past the 102 KB Gmail shows");
    p.dry_run("preview").failure().stderr_has(refusal);
    assert!(!p.path("preview").exists());
    p.send(&[]).failure().stderr_has(refusal);
    assert!(!p.path("logs").exists());
}
