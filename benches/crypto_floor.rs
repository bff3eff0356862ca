//! The CPU cost of each signature function of the exchange path, beside the RSA work it cannot
//! avoid: one RSA-2048 signature and one verification with keys already in memory (what
//! `openssl speed rsa2048` measures). What a function costs above that floor is overhead the hub
//! pays on every message.
//!
//! `cargo bench --bench crypto_floor` (pin it with `taskset -c 0` for steadier figures). Each
//! function runs for `BENCH_SECONDS` (1) per round, `BENCH_ROUNDS` (5) rounds interleaved; the
//! report gives the median per round of the mean time per call, and writes Markdown to
//! `BENCH_REPORT` (`reports/crypto-floor-timed.md`).

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use esocial_wire::crypto::jws::{self, JwsSigner, JwsVerifier};
use esocial_wire::crypto::pki::{CertificateRole, generate_ca, issue_leaf};
use esocial_wire::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use esocial_wire::mconnect::envelope::{self, AnswerBinding, CallContext, Delivery};
use openssl::hash::MessageDigest;
use openssl::sign::{Signer, Verifier};

/// A person-details answer the size of the civil registry's real ones.
const ANSWER_BODY: &str = r#"<civ:GetPersonDetailsResponse xmlns:civ="urn:md:gov:civil:v1"><civ:Person><civ:IDNP>0994928027446</civ:IDNP><civ:FirstName>Ion</civ:FirstName><civ:LastName>Popescu</civ:LastName><civ:BirthDate>1988-04-12</civ:BirthDate><civ:Sex>M</civ:Sex><civ:Status>alive</civ:Status><civ:Address><civ:District>Chișinău</civ:District><civ:Locality>Chișinău</civ:Locality><civ:Street>str. Ștefan cel Mare 12</civ:Street><civ:PostalCode>MD-2001</civ:PostalCode></civ:Address></civ:Person></civ:GetPersonDetailsResponse>"#;
const REQUEST_BODY: &str = r#"<civ:GetPersonDetails xmlns:civ="urn:md:gov:civil:v1"><civ:IDNP>0994928027446</civ:IDNP></civ:GetPersonDetails>"#;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mean microseconds per call of `f` over `window`.
fn time_per_call(window: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < window {
        f();
        calls += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("crypto_floor: a benchmark; run it with `cargo bench --bench crypto_floor`");
        return Ok(());
    }
    let window = Duration::from_secs(env_number("BENCH_SECONDS", 1));
    let rounds = env_number("BENCH_ROUNDS", 5) as usize;
    let report_path = std::env::var("BENCH_REPORT").unwrap_or_else(|_| {
        format!(
            "{}/reports/crypto-floor-timed.md",
            env!("CARGO_MANIFEST_DIR")
        )
    });

    let ca = generate_ca("bench CA")?;
    let leaf = issue_leaf(&ca, "bench-signer", CertificateRole::ServerAndClient)?;
    let (key_pem, cert_pem, ca_pem) = (
        leaf.key_pem()?,
        leaf.certificate_pem()?,
        ca.certificate_pem()?,
    );
    let identity = SigningIdentity::from_pem(&key_pem, &cert_pem)?;
    let trust = TrustAnchors::from_pem(&ca_pem)?;
    let jws_signer = JwsSigner::from_pem(&key_pem, &cert_pem)?;
    let jws_verifier = JwsVerifier::from_pem(&ca_pem)?;

    let context = CallContext {
        calling_user: "2000000000004".into(),
        calling_entity: "1008600038413".into(),
        call_basis: "Legea nr. 123/2010, art. 12".into(),
        call_reason: "Evaluarea inițială".into(),
        message_id: uuid::Uuid::now_v7().to_string(),
        delivery: Some(Delivery {
            exchange_id: uuid::Uuid::now_v7().to_string(),
            attempt: 1,
        }),
    };
    let request = envelope::request(&context, REQUEST_BODY);
    let answer = envelope::response(
        &AnswerBinding {
            message_id: uuid::Uuid::now_v7().to_string(),
            relates_to: context.message_id.clone(),
            request_hash: "x".repeat(43),
        },
        ANSWER_BODY,
    );
    let now = SystemTime::now();
    let signed_answer = wssec::sign_envelope(&answer, &identity, now, wssec::DEFAULT_TTL)?;
    wssec::verify_envelope(&signed_answer, &trust, now)?;
    let payload =
        serde_json::to_vec(&context.rest_payload(serde_json::json!({"idnp": "0994928027446"})))?;
    let token = jws::sign_compact(&payload, &jws_signer, now, wssec::DEFAULT_TTL)?;
    jws::verify_compact(&token, &jws_verifier, now)?;
    let digest_input = [7u8; 32];
    let raw_signature = {
        let mut signer = Signer::new(MessageDigest::sha256(), &leaf.key)?;
        signer.sign_oneshot_to_vec(&digest_input)?
    };

    type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let mut cases: Vec<Case<'_>> = vec![
        (
            "openssl RSA-2048 sign (held key)",
            Box::new(|| {
                let mut signer = Signer::new(MessageDigest::sha256(), &leaf.key).unwrap();
                std::hint::black_box(signer.sign_oneshot_to_vec(&digest_input).unwrap());
            }),
        ),
        (
            "openssl RSA-2048 verify (held key)",
            Box::new(|| {
                let mut verifier = Verifier::new(MessageDigest::sha256(), &leaf.key).unwrap();
                assert!(
                    verifier
                        .verify_oneshot(&raw_signature, &digest_input)
                        .unwrap()
                );
            }),
        ),
        (
            "wssec::sign_envelope (request)",
            Box::new(|| {
                std::hint::black_box(
                    wssec::sign_envelope(&request, &identity, now, wssec::DEFAULT_TTL).unwrap(),
                );
            }),
        ),
        (
            "wssec::verify_envelope (answer)",
            Box::new(|| {
                std::hint::black_box(wssec::verify_envelope(&signed_answer, &trust, now).unwrap());
            }),
        ),
        (
            "jws::sign_compact (request)",
            Box::new(|| {
                std::hint::black_box(
                    jws::sign_compact(&payload, &jws_signer, now, wssec::DEFAULT_TTL).unwrap(),
                );
            }),
        ),
        (
            "jws::verify_compact (answer)",
            Box::new(|| {
                std::hint::black_box(jws::verify_compact(&token, &jws_verifier, now).unwrap());
            }),
        ),
    ];

    let mut samples: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for round in 0..rounds {
        eprintln!("crypto_floor: round {}/{rounds}", round + 1);
        // Rotate the order so no case always runs first (warm caches, turbo).
        for offset in 0..cases.len() {
            let index = (offset + round) % cases.len();
            let micros = time_per_call(window, &mut cases[index].1);
            samples.entry(index).or_default().push(micros);
        }
    }
    let medians: Vec<f64> = (0..cases.len())
        .map(|i| median(samples.get_mut(&i).expect("sampled")))
        .collect();
    let floor = medians[0] + medians[1];

    let mut out = String::new();
    out.push_str("# CPU cost of the signature functions\n\n");
    out.push_str(&format!(
        "Produced by `cargo bench --bench crypto_floor` on {}.\n\n",
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?
    ));
    out.push_str(&format!(
        "- CPU: {} ({} logical CPUs); load average before the run: {}\n",
        machine::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        machine::loadavg()
    ));
    out.push_str(&format!(
        "- {rounds} rounds of {} s per function, interleaved; one thread; the figure is the median over rounds of the mean time per call.\n",
        window.as_secs()
    ));
    out.push_str("- The floor of one exchange is one RSA-2048 signature plus one verification with held keys (the hub signs its request and verifies the answer).\n");
    out.push_str("- The SOAP messages are MConnect envelopes with every header (request: seven headers; answer: three), bodies of a person-details call; the JWS payload is the REST profile's `mconnect` block and request.\n\n");
    out.push_str("| function | µs per call | × floor of one exchange |\n|---|---:|---:|\n");
    for (i, (name, _)) in cases.iter().enumerate() {
        out.push_str(&format!(
            "| {name} | {:.1} | {:.2} |\n",
            medians[i],
            medians[i] / floor
        ));
    }
    out.push_str(&format!(
        "\nFloor (sign + verify): {floor:.1} µs. SOAP sign + verify: {:.1} µs = {:.2}× the floor. REST sign + verify: {:.1} µs = {:.2}× the floor.\n",
        medians[2] + medians[3],
        (medians[2] + medians[3]) / floor,
        medians[4] + medians[5],
        (medians[4] + medians[5]) / floor
    ));
    std::io::stderr().write_all(out.as_bytes())?;
    if let Some(dir) = std::path::Path::new(&report_path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&report_path, &out)?;
    eprintln!("crypto_floor: report written to {report_path}");
    Ok(())
}
