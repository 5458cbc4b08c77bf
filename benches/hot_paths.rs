//! Criterion benches for the hot paths of a send: render the issue, build
//! one reader's message, read the list, read the delivery log.
//! Run with `cargo bench`; scripts/bench measures the whole program.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bulletin::audience::subscribers::{Snapshot, SubscriberFile};
use bulletin::audience::unsubscribe::Unsubscriber;
use bulletin::compose::message::{Recipient, Template};
use bulletin::compose::render;
use bulletin::deliver::journal;
use bulletin::input::config::Config;
use bulletin::input::email::Email;
use bulletin::input::issue::Issue;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;

const READERS: u64 = 10_000;

fn hot_paths(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config::load(&root.join("config.toml")).expect("config");
    let issue = Issue::load(&root.join("issues/2022-08-01.toml")).expect("issue");
    let newsletter = &config.newsletter;

    c.bench_function("render the sample issue (HTML and text)", |b| {
        b.iter(|| render::render(newsletter, black_box(&issue), true).expect("render"))
    });

    let parts = render::render(newsletter, &issue, true).expect("render");
    let unsubscribe = config.unsubscribe.as_ref().map(|u| {
        let secret = SecretString::from("bench-secret".to_owned());
        Unsubscriber::new(u, newsletter.list_id.as_str(), Some(secret))
    });
    let template = Template::new(newsletter, &issue.id, &parts, unsubscribe, None);
    let email = Email::parse("reader@example.org").expect("email");
    let date = UNIX_EPOCH + Duration::from_secs(1_659_348_000);
    c.bench_function("build one reader's message (bytes for the wire)", |b| {
        b.iter(|| {
            let to = Recipient {
                email: black_box(&email),
                name: None,
                row: None,
            };
            template.build(to, date).expect("build")
        })
    });

    // DKIM: one message signed whole (canonicalisation, hashes, RSA), and
    // the RSA-2048 operation alone on the same key, to set against
    // `openssl speed rsa2048`.
    let keys = tempfile::tempdir().expect("dir");
    let key = keys.path().join("rsa.pem");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl");
    assert!(made.status.success());
    let settings = bulletin::input::config::DkimSettings {
        domain: "example.org".into(),
        selector: "bench".into(),
        private_key: key.clone(),
    };
    let signer = bulletin::compose::dkim::load(&settings).expect("key");
    let to = Recipient {
        email: &email,
        name: None,
        row: None,
    };
    let message = template.build(to, date).expect("build");
    c.bench_function("DKIM-sign one message (RSA-2048, relaxed/relaxed)", |b| {
        b.iter(|| signer.sign(black_box(&message), date).expect("sign"))
    });
    let pem = std::fs::read_to_string(&key).expect("pem");
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .expect("der");
    let rsa = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("pkcs8");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0; rsa.public_modulus_len()];
    c.bench_function("RSA-2048 signature alone (aws-lc)", |b| {
        b.iter(|| {
            rsa.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                black_box(b"about a kilobyte of canonical headers"),
                &mut sig,
            )
            .expect("sign")
        })
    });

    let dir = tempfile::tempdir().expect("dir");
    let list = dir.path().join("list.csv");
    let mut csv = String::from("email,name\n");
    let mut log = String::from("timestamp,email,status,attempts,code,detail,message_id\n");
    for i in 0..READERS {
        csv.push_str(&format!("reader{i}@example.org,Reader {i}\n"));
        log.push_str(&format!(
            "2026-01-01T00:00:00Z,reader{i}@example.org,sending,1,,,<{i}@x>\n\
             2026-01-01T00:00:00Z,reader{i}@example.org,sent,1,250,250 Ok,<{i}@x>\n"
        ));
    }
    std::fs::write(&list, csv).expect("write list");
    let log_path = dir.path().join("log.csv");
    std::fs::write(&log_path, log).expect("write log");

    let mut group = c.benchmark_group("files");
    group.throughput(Throughput::Elements(READERS));
    group.bench_function("read a 10,000-row list", |b| {
        b.iter(|| {
            let snap = Snapshot::take(&list).expect("snapshot");
            SubscriberFile::open(&snap).expect("open").count()
        })
    });
    group.bench_function("read a log of 10,000 readers", |b| {
        b.iter(|| journal::read_log(&log_path).expect("log").last.len())
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
