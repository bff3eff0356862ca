//! The audit log against real tampering: exchanges through the hub leave entries; the entries
//! are then modified, deleted, inserted, reordered and cut off directly in the database, on
//! SQLite and on PostgreSQL, and `audit verify` must name the first one touched. Proofs of
//! inclusion and consistency verify with only the hub's certificate, by the hub's `audit check`
//! and by `openssl dgst`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use esocial_hub::audit::proof::{self, ProofDocument};
use esocial_hub::audit::verify::{Finding, Verified, verify};
use esocial_hub::audit::{AuditLog, AuditSealer};
use esocial_store::Store;
use esocial_wire::crypto::pki::PkiLayout;
use esocial_wire::crypto::wssec::SigningIdentity;
use openssl::x509::X509;
use secrecy::SecretString;

use crate::helpers::{SpawnOptions, TestApp, adapters_dir, contracts_dir, spawn_app_with};
use crate::postgres::fresh_postgres_database;

const HUB: &str = env!("CARGO_BIN_EXE_esocial-hub");
/// The digest key `spawn_app_with` gives the hub.
const DIGEST_KEY: &str = "test-digest-key-0123456789abcdef0123456789";

fn sealer() -> AuditSealer {
    AuditSealer::from_ring(&esocial_wire::crypto::keys::KeyRing::single(
        &SecretString::from(DIGEST_KEY),
    ))
}

fn hub_certificate(pki: &PkiLayout) -> X509 {
    X509::from_pem(&std::fs::read(pki.cert("hub")).unwrap()).unwrap()
}

fn audit_log(app: &TestApp) -> AuditLog {
    let identity = SigningIdentity::from_pem(
        &std::fs::read(app.pki.key("hub")).unwrap(),
        &std::fs::read(app.pki.cert("hub")).unwrap(),
    )
    .unwrap();
    AuditLog::new(app.store.clone(), sealer(), Arc::new(identity))
}

/// Runs `count` exchanges and waits until the hub has placed their entries.
async fn exchanges(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let response = app.post_exchange(&app.valid_request()).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        ids.push(body["exchangeId"].as_str().unwrap().to_string());
    }
    for _ in 0..200 {
        if app.store.pending_audit_count().await.unwrap() == 0 {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub did not place the audit entries");
}

/// A hub with twelve exchanges in its audit log and checkpoints at sizes 6 and 12.
async fn audited_app(store_url: Option<String>) -> (TestApp, Vec<String>) {
    let app = spawn_app_with(SpawnOptions {
        store_url,
        ..SpawnOptions::default()
    })
    .await;
    let log = audit_log(&app);
    let mut ids = exchanges(&app, 6).await;
    assert_eq!(log.checkpoint().await.unwrap(), Some(6));
    ids.extend(exchanges(&app, 6).await);
    assert_eq!(log.checkpoint().await.unwrap(), Some(12));
    assert_eq!(log.checkpoint().await.unwrap(), None, "nothing new to sign");
    (app, ids)
}

async fn verified(store: &Store, pki: &PkiLayout) -> Result<Verified, Finding> {
    verify(store, &sealer(), &hub_certificate(pki), |_| {})
        .await
        .unwrap()
}

async fn execute(store_url: &str, statements: &[&str]) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(store_url).await.unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

/// Every kind of tampering, each undone before the next, and what `audit verify` says of it.
async fn tampering_is_named(store_url: &str, app: &TestApp, entry_id_at: impl Fn(u64) -> String) {
    let clean = verified(&app.store, &app.pki).await.unwrap();
    assert_eq!(clean.entries, 12);
    assert_eq!(clean.checkpoints, 2);
    assert_eq!(clean.latest_checkpoint, Some(12));
    execute(
        store_url,
        &[
            "CREATE TABLE audit_log_copy AS SELECT * FROM audit_log",
            "CREATE TABLE audit_checkpoints_copy AS SELECT * FROM audit_checkpoints",
        ],
    )
    .await;
    let restore = [
        "DELETE FROM audit_log",
        "INSERT INTO audit_log SELECT * FROM audit_log_copy",
        "DELETE FROM audit_checkpoints",
        "INSERT INTO audit_checkpoints SELECT * FROM audit_checkpoints_copy",
    ];
    // Moves every entry from `at` on by `by` places, around the uniqueness of `seq`.
    let shift = |at: u64, by: i64| {
        [
            format!("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= {at}"),
            format!("UPDATE audit_log SET seq = seq - 1000000 + ({by}) WHERE seq >= 1000000"),
        ]
    };
    let cases: Vec<(&str, Vec<String>, Finding)> = vec![
        (
            "a reason changed",
            vec!["UPDATE audit_log SET reason = 'altered' WHERE seq = 3".into()],
            Finding::Modified {
                seq: 3,
                entry_id: entry_id_at(3),
            },
        ),
        (
            "an outcome changed and its digest recomputed",
            vec![
                "UPDATE audit_log SET outcome = 'failed', entry_digest = '00' WHERE seq = 2".into(),
            ],
            Finding::Modified {
                seq: 2,
                entry_id: entry_id_at(2),
            },
        ),
        (
            "an entry deleted, leaving a gap",
            vec!["DELETE FROM audit_log WHERE seq = 4".into()],
            Finding::Deleted { seq: 4 },
        ),
        (
            "an entry deleted and the rest renumbered",
            [
                vec!["DELETE FROM audit_log WHERE seq = 4".to_string()],
                shift(5, -1).to_vec(),
            ]
            .concat(),
            Finding::Deleted { seq: 4 },
        ),
        (
            "an entry inserted",
            [
                shift(5, 1).to_vec(),
                vec![
                    "INSERT INTO audit_log (entry_id, kind, recorded_at, exchange_id, \
                     client_id, service, legal_basis, reason, case_id, calling_user_digest, \
                     subject_digest, outcome, error_code, fields_released, request_digest, \
                     response_digest, seq, entry_digest, seal, seal_key_id) \
                     SELECT 'forged', kind, recorded_at, exchange_id, \
                     client_id, service, legal_basis, reason, case_id, calling_user_digest, \
                     subject_digest, outcome, error_code, fields_released, request_digest, \
                     response_digest, 5, entry_digest, seal, seal_key_id FROM audit_log_copy \
                     WHERE seq = 2"
                        .to_string(),
                ],
            ]
            .concat(),
            Finding::Inserted {
                seq: 5,
                entry_id: "forged".into(),
            },
        ),
        (
            "two entries swapped",
            vec![
                "UPDATE audit_log SET seq = -1 WHERE seq = 6".into(),
                "UPDATE audit_log SET seq = 6 WHERE seq = 7".into(),
                "UPDATE audit_log SET seq = 7 WHERE seq = -1".into(),
            ],
            Finding::Reordered {
                seq: 6,
                entry_id: entry_id_at(7),
                placed_at: 7,
            },
        ),
        (
            "the last entries cut off",
            vec!["DELETE FROM audit_log WHERE seq >= 10".into()],
            Finding::Truncated {
                from: 10,
                known: 12,
            },
        ),
    ];
    for (what, statements, expected) in cases {
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        execute(store_url, &statements).await;
        assert_eq!(
            verified(&app.store, &app.pki).await,
            Err(expected),
            "{what}"
        );
        execute(store_url, &restore).await;
        assert!(
            verified(&app.store, &app.pki).await.is_ok(),
            "restored after {what}"
        );
    }

    execute(
        store_url,
        &["UPDATE audit_checkpoints SET note = REPLACE(note, '\n12\n', '\n13\n') WHERE size = 12"],
    )
    .await;
    assert!(matches!(
        verified(&app.store, &app.pki).await,
        Err(Finding::BadCheckpoint { size: 12, .. })
    ));
    execute(store_url, &restore).await;
}

/// The entry ids in log order.
async fn entry_ids(store: &Store) -> Vec<String> {
    store
        .audit_entries(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.row.entry_id)
        .collect()
}

#[tokio::test]
async fn every_kind_of_tampering_is_named_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let (app, ids) = audited_app(Some(url.clone())).await;
    let order = entry_ids(&app.store).await;
    let mut sorted_order = order.clone();
    sorted_order.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_order, sorted_ids, "one entry for each exchange");
    tampering_is_named(&url, &app, |seq| order[seq as usize].clone()).await;
}

#[tokio::test]
async fn every_kind_of_tampering_is_named_on_postgres() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    let (app, _) = audited_app(Some(url.clone())).await;
    let order = entry_ids(&app.store).await;
    tampering_is_named(&url, &app, |seq| order[seq as usize].clone()).await;
}

#[tokio::test]
async fn proofs_verify_with_the_certificate_alone_and_fail_when_altered() {
    let (app, ids) = audited_app(None).await;
    let certificate = hub_certificate(&app.pki);
    let entry = &ids[3];

    let inclusion = proof::prove_inclusion(&app.store, entry, None, &certificate)
        .await
        .unwrap();
    let proven = proof::check(&inclusion, &certificate).unwrap();
    assert!(proven.contains("of the log of 12 entries"), "{proven}");
    let ProofDocument::Inclusion {
        entry: text,
        index,
        path,
        checkpoint,
    } = inclusion.clone()
    else {
        panic!("an inclusion proof");
    };
    assert!(text.contains(entry.as_str()));
    let caller = app.population.persons()[1].idnp.expose().to_string();
    assert!(!text.contains(&caller), "no IDNP in the entry: {text}");
    // Against the older checkpoint too, when the entry was in it.
    let early = proof::prove_inclusion(&app.store, &ids[0], Some(6), &certificate)
        .await
        .unwrap();
    proof::check(&early, &certificate).unwrap();
    assert!(
        proof::prove_inclusion(&app.store, &ids[8], Some(6), &certificate)
            .await
            .is_err(),
        "an entry placed after a checkpoint is not proven against it"
    );

    let altered = [
        ProofDocument::Inclusion {
            entry: text.replace("completed", "failed"),
            index,
            path: path.clone(),
            checkpoint: checkpoint.clone(),
        },
        ProofDocument::Inclusion {
            entry: text.clone(),
            index: index + 1,
            path: path.clone(),
            checkpoint: checkpoint.clone(),
        },
        ProofDocument::Inclusion {
            entry: text.clone(),
            index,
            path: path.iter().rev().cloned().collect(),
            checkpoint: checkpoint.clone(),
        },
        ProofDocument::Inclusion {
            entry: text.clone(),
            index,
            path: path.clone(),
            checkpoint: proof::SignedNote {
                note: checkpoint.note.replace("\n12\n", "\n13\n"),
                signature: checkpoint.signature.clone(),
            },
        },
    ];
    for document in &altered {
        assert!(
            proof::check(document, &certificate).is_err(),
            "{document:?}"
        );
    }
    let stranger = X509::from_pem(&std::fs::read(app.pki.cert("registry-civil")).unwrap()).unwrap();
    assert!(proof::check(&inclusion, &stranger).is_err());

    let consistency = proof::prove_consistency(&app.store, 6, 12, &certificate)
        .await
        .unwrap();
    let proven = proof::check(&consistency, &certificate).unwrap();
    assert!(proven.contains("12 entries"), "{proven}");
    let ProofDocument::Consistency { older, newer, path } = consistency else {
        panic!("a consistency proof");
    };
    let swapped = ProofDocument::Consistency {
        older: newer,
        newer: older,
        path,
    };
    assert!(proof::check(&swapped, &certificate).is_err());
}

fn run(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(HUB)
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_command_line_verifies_proves_and_names_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(url.clone()),
        ..SpawnOptions::default()
    })
    .await;
    let ids = exchanges(&app, 5).await;
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        esocial_hub::demo::settings_file(
            &app.pki,
            &url,
            DIGEST_KEY,
            &adapters_dir(),
            &contracts_dir(),
        ),
    )
    .unwrap();

    let signed = run(&["audit", "checkpoint"], &config);
    assert!(signed.status.success(), "{signed:?}");
    assert!(String::from_utf8_lossy(&signed.stdout).contains("checkpoint of size 5"));
    let verified = run(&["audit", "verify"], &config);
    assert!(verified.status.success(), "{verified:?}");
    assert!(String::from_utf8_lossy(&verified.stdout).contains("5 entries"));

    let proven = run(&["audit", "prove", "--entry", &ids[2]], &config);
    assert!(proven.status.success(), "{proven:?}");
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, &proven.stdout).unwrap();
    let checked = Command::new(HUB)
        .args(["audit", "check"])
        .arg(&proof_file)
        .arg("--cert")
        .arg(app.pki.cert("hub"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");

    // The checkpoint inside the proof verifies with openssl and the certificate alone.
    let document: ProofDocument = serde_json::from_slice(&proven.stdout).unwrap();
    let ProofDocument::Inclusion { checkpoint, .. } = document else {
        panic!("an inclusion proof");
    };
    use base64::Engine as _;
    std::fs::write(dir.path().join("note"), &checkpoint.note).unwrap();
    std::fs::write(
        dir.path().join("note.sig"),
        base64::engine::general_purpose::STANDARD
            .decode(&checkpoint.signature)
            .unwrap(),
    )
    .unwrap();
    let public_key = X509::from_pem(&std::fs::read(app.pki.cert("hub")).unwrap())
        .unwrap()
        .public_key()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    std::fs::write(dir.path().join("hub.pub"), public_key).unwrap();
    let openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.path().join("hub.pub"))
        .arg("-signature")
        .arg(dir.path().join("note.sig"))
        .arg(dir.path().join("note"))
        .output()
        .unwrap();
    assert!(openssl.status.success(), "{openssl:?}");
    assert!(String::from_utf8_lossy(&openssl.stdout).contains("Verified OK"));

    // The person's report, by IDNP; a bad IDNP is named, never echoed.
    let subject = app.population.sample_subject().idnp.expose().to_string();
    let report = run(
        &[
            "audit",
            "report",
            "--idnp",
            &subject,
            "--operator",
            "dpa-inspector",
        ],
        &config,
    );
    assert!(report.status.success(), "{report:?}");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["accesses"].as_array().unwrap().len(), 5);
    assert!(report["accesses"][0]["proof"]["path"].is_array());
    let bad = run(
        &[
            "audit",
            "report",
            "--idnp",
            "2000000000000",
            "--operator",
            "x",
        ],
        &config,
    );
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("--idnp") && !said.contains("2000000000000"),
        "{said}"
    );

    execute(
        &url,
        &["UPDATE audit_log SET legal_basis = 'none' WHERE seq = 1"],
    )
    .await;
    let tampered = run(&["audit", "verify"], &config);
    assert_eq!(tampered.status.code(), Some(1), "{tampered:?}");
    let said = String::from_utf8_lossy(&tampered.stderr);
    assert!(said.contains("entry 1 (id "), "{said}");
    assert!(said.contains("was modified"), "{said}");
}

#[tokio::test]
async fn entries_wait_while_mlog_is_down_and_reach_it_in_order_once_each() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(url.clone()),
        mlog_url: Some(format!("https://127.0.0.1:{port}/mlog")),
        ..SpawnOptions::default()
    })
    .await;
    let caller = app.population.persons()[1].idnp.expose().to_string();
    exchanges(&app, 6).await;

    // MLog is down: the entries wait, and the operators see them waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.store.mlog_delivered().await.unwrap(), 0);
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("esocial_hub_audit_backlog{stage=\"mlog\"} 6"),
        "{metrics}"
    );

    // MLog comes back where the hub expects it.
    let holder = esocial_wire::crypto::pki::registry_holder("mlog");
    crate::helpers::shared_pki(&["mlog".to_string()]);
    let mlog = esocial_sim::mlog::start_mlog(esocial_sim::mlog::MlogConfig {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        tls_cert: app.pki.cert(&holder),
        tls_key: app.pki.key(&holder),
        client_ca: app.pki.ca_cert(),
    })
    .unwrap();
    let events = mlog.events.clone();
    tokio::spawn(mlog.server);
    exchanges(&app, 3).await;
    for _ in 0..300 {
        if events.len() >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let registered = events.all();
    let in_log_order = entry_ids(&app.store).await;
    let delivered: Vec<String> = registered
        .iter()
        .map(|event| event["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delivered, in_log_order, "every entry, in log order, once");
    for event in &registered {
        assert_eq!(event["event_type"], "eSocial.PersonalData.Access");
        assert_eq!(event["legal_entity"], "1008600038413");
        assert_eq!(event["legal_basis"], "Legea nr. 123/2010, art. 12");
        assert_eq!(event["user"], caller.as_str(), "MLog gets the user's IDNP");
        let subject = event["subject"]["_name"].as_str().unwrap();
        assert!(
            subject.len() == 13 && subject.bytes().all(|b| b.is_ascii_digit()),
            "MLog gets the subject's IDNP"
        );
    }
    // MLog's acknowledgement reaches the store just after MLog registers the batch.
    for _ in 0..100 {
        if app.store.mlog_delivered().await.unwrap() == 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.store.mlog_delivered().await.unwrap(), 9);
    // Once MLog has them, the hub keeps the identifiers no longer.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (still_sealed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE sealed_identifiers IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(still_sealed, 0);
    let (in_exchanges,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM exchanges WHERE sealed_identifiers IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(in_exchanges, 0);
}

#[tokio::test]
async fn a_persons_access_report_lists_every_access_with_its_proof_and_is_audited() {
    let app = spawn_app_with(SpawnOptions::default()).await;
    // Someone else than the subject of `exchanges`, and than their caller.
    let others = app.population.sample_subject().idnp.expose().to_string();
    let idnp = app
        .population
        .persons()
        .iter()
        .skip(2)
        .map(|person| person.idnp.expose().to_string())
        .find(|idnp| *idnp != others)
        .unwrap();
    let record = |source: &str, local_id: &str| {
        serde_json::json!({"source": source, "record": {
            "localId": local_id, "idnp": idnp, "firstName": "Ion",
            "lastName": "Ceban", "birthDate": "1980-04-07", "sex": "M"}})
    };
    let registered: serde_json::Value = app
        .post_json("/api/v1/persons/records", &record("social", "1"))
        .await
        .json()
        .await
        .unwrap();
    let person = registered["personId"].as_str().unwrap().to_string();
    let mut request = app.valid_request();
    request["subject"] = serde_json::json!({"idnp": idnp});
    assert_eq!(app.post_exchange(&request).await.status().as_u16(), 200);
    exchanges(&app, 2).await; // about other people: not in the report
    audit_log(&app).checkpoint().await.unwrap();

    let path = format!("/api/v1/persons/{person}/access-log");
    let response = app.get(&path).await;
    assert_eq!(response.status().as_u16(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    crate::helpers::assert_matches_openapi(
        "/api/v1/persons/{personId}/access-log",
        "get",
        200,
        &report,
    );
    let accesses = report["accesses"].as_array().unwrap();
    let kinds: Vec<&str> = accesses
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    // The registration as a change (written with it) and as the client's request, then the
    // exchange about the person.
    assert_eq!(
        kinds,
        ["mpi.change.register", "mpi.register", "exchange.outbound"],
        "{report}"
    );
    let exchange = &accesses[2];
    assert_eq!(exchange["service"], "civil.person-details");
    assert_eq!(exchange["legalBasis"], "Legea nr. 123/2010, art. 12");
    assert_eq!(exchange["client"], "case-management");
    let released: Vec<&str> = exchange["fieldsReleased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    assert!(released.contains(&"idnp"), "{released:?}");
    assert!(!report.to_string().contains(&idnp), "no IDNP in the report");

    // Each line's proof verifies with the hub's certificate alone.
    let checkpoint: proof::SignedNote =
        serde_json::from_value(report["checkpoint"].clone()).unwrap();
    for line in accesses {
        let document = ProofDocument::Inclusion {
            entry: line["entry"].as_str().unwrap().to_string(),
            index: line["proof"]["index"].as_u64().unwrap(),
            path: serde_json::from_value(line["proof"]["path"].clone()).unwrap(),
            checkpoint: checkpoint.clone(),
        };
        proof::check(&document, &hub_certificate(&app.pki)).unwrap();
    }

    // Paged.
    let first: serde_json::Value = app
        .get(&format!("{path}?limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["accesses"].as_array().unwrap().len(), 1);
    let next = first["next"].as_i64().unwrap();
    let second: serde_json::Value = app
        .get(&format!("{path}?limit=1&after={next}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["accesses"][0]["kind"], "mpi.register");
    // A date range that ends before everything is empty.
    let none: serde_json::Value = app
        .get(&format!("{path}?to=2000-01-01T00:00:00Z"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["accesses"].as_array().unwrap().len(), 0);

    // Bad input names the parameter; a client without the role is refused.
    let problem = crate::helpers::assert_problem(
        app.get(&format!("{path}?from=yesterday")).await,
        400,
        "caller.invalid_request",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("`from`"));
    let stranger = crate::helpers::client_with(
        &app.pki,
        &esocial_wire::crypto::pki::client_holder(esocial_hub::demo::DEMO_UNGRANTED_CLIENT),
    );
    crate::helpers::assert_problem(
        app.get_as(&stranger, &path).await,
        403,
        "caller.access_denied",
    )
    .await;

    // Asking was audited.
    for _ in 0..100 {
        if app.store.pending_audit_count().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let about_person = app
        .store
        .audit_entries_about(Some(&person), &[], "", "9", -1, 100)
        .await
        .unwrap();
    let asked = |outcome: &str| {
        about_person
            .iter()
            .filter(|entry| entry.row.kind == "mpi.access-log" && entry.row.outcome == outcome)
            .count()
    };
    assert_eq!(asked("ok"), 4, "every report given is audited");
    assert_eq!(asked("refused"), 1, "and the refusal too");
}

/// Archiving on `store_url`: the files verify offline, the live log still verifies and proves,
/// and tampering with a file or with an archived entry's leaf is found.
async fn old_entries_move_to_archives_that_verify_alone(store_url: String) {
    use esocial_hub::audit::archive::{ArchiveFile, archive, verify_archive};
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(store_url.clone()),
        ..SpawnOptions::default()
    })
    .await;
    let log = audit_log(&app);
    let certificate = hub_certificate(&app.pki);
    let mut ids = exchanges(&app, 6).await;
    log.checkpoint().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(20)).await;
    ids.extend(exchanges(&app, 6).await);
    log.checkpoint().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let (path, record) = archive(&app.store, cutoff, dir.path(), None, &certificate)
        .await
        .unwrap()
        .expect("the first six entries are old enough");
    assert_eq!((record.from_seq, record.up_to), (0, 6));
    let file: ArchiveFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    verify_archive(&file, &certificate).unwrap();
    let live = verified(&app.store, &app.pki).await.unwrap();
    assert_eq!((live.entries, live.checkpoints), (12, 2));
    assert_eq!(
        entry_ids(&app.store).await.len(),
        6,
        "six entries left the live log"
    );
    let later = proof::prove_inclusion(&app.store, &ids[8], Some(12), &certificate)
        .await
        .unwrap();
    proof::check(&later, &certificate).unwrap();
    assert!(
        archive(&app.store, cutoff, dir.path(), None, &certificate)
            .await
            .unwrap()
            .is_none(),
        "nothing more is old enough"
    );

    // A file altered in any way no longer verifies.
    let mut altered = file.clone();
    altered.entries[2].entry = altered.entries[2].entry.replace("completed", "failed");
    let mut removed = file.clone();
    removed.entries.remove(3);
    let mut swapped = file.clone();
    swapped.entries.swap(1, 2);
    (swapped.entries[1].seq, swapped.entries[2].seq) = (1, 2);
    for (what, bad) in [
        ("altered", altered),
        ("removed", removed),
        ("swapped", swapped),
    ] {
        assert!(verify_archive(&bad, &certificate).is_err(), "{what}");
    }
    // So does the live log when an archived entry's leaf is touched.
    let leaf_2 = app.store.audit_leaves(2, 1).await.unwrap()[0]
        .entry_digest
        .clone();
    execute(
        &store_url,
        &[
            "UPDATE audit_leaves SET entry_digest = (SELECT entry_digest FROM audit_leaves \
           WHERE seq = 1) WHERE seq = 2",
        ],
    )
    .await;
    assert_eq!(
        verified(&app.store, &app.pki).await,
        Err(Finding::Modified {
            seq: 2,
            entry_id: "archived".into()
        })
    );

    // While it is, no archive is made from the tampered log; restored, the next archive
    // starts where the last ended and verifies alone too.
    assert!(
        archive(
            &app.store,
            time::OffsetDateTime::now_utc(),
            dir.path(),
            None,
            &certificate
        )
        .await
        .is_err()
    );
    execute(
        &store_url,
        &[&format!(
            "UPDATE audit_leaves SET entry_digest = '{}' WHERE seq = 2",
            leaf_2
        )],
    )
    .await;
    verified(&app.store, &app.pki).await.unwrap();
    let (path, record) = archive(
        &app.store,
        time::OffsetDateTime::now_utc(),
        dir.path(),
        None,
        &certificate,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((record.from_seq, record.up_to), (6, 12));
    let checked = Command::new(HUB)
        .args(["audit", "verify", "--archive"])
        .arg(&path)
        .arg("--cert")
        .arg(app.pki.cert("hub"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    assert!(String::from_utf8_lossy(&checked.stdout).contains("entries 6..12"));
}

#[tokio::test]
async fn old_entries_move_to_archives_that_verify_alone_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    old_entries_move_to_archives_that_verify_alone(format!(
        "sqlite://{}/audit.db?mode=rwc",
        dir.path().display()
    ))
    .await;
}

#[tokio::test]
async fn old_entries_move_to_archives_that_verify_alone_on_postgres() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    old_entries_move_to_archives_that_verify_alone(url).await;
}

#[tokio::test]
async fn after_a_key_rotation_the_log_still_verifies_and_what_was_written_is_found() {
    use esocial_wire::crypto::keys::KeyRing;
    let (app, _) = audited_app(None).await;
    let new_key = SecretString::from("rotated-digest-key-0123456789abcdef0123");
    let rotated = KeyRing::new(new_key.clone(), vec![SecretString::from(DIGEST_KEY)]);
    let certificate = hub_certificate(&app.pki);

    let verified = verify(
        &app.store,
        &AuditSealer::from_ring(&rotated),
        &certificate,
        |_| {},
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(verified.entries, 12);
    // Without the old secret, the seals made under it cannot be checked, and the log says so.
    let forgotten = verify(
        &app.store,
        &AuditSealer::from_ring(&KeyRing::single(&new_key)),
        &certificate,
        |_| {},
    )
    .await
    .unwrap();
    assert!(matches!(forgotten, Err(Finding::UnknownKey { seq: 0, .. })));

    // A person's entries written under the old key are found under the new ring.
    let subject = app.population.sample_subject().idnp.expose().to_string();
    let digests = esocial_hub::audit::PersonalDataDigester::new(&rotated).digests(&subject);
    let found = app
        .store
        .audit_entries_about(None, &digests, "", "9", -1, 100)
        .await
        .unwrap();
    assert_eq!(found.len(), 12);
}

/// Writes `count` refusals straight to the store and places them.
async fn refusals(app: &TestApp, log: &AuditLog, count: usize) {
    for i in 0..count {
        app.store
            .record_audit_entry(&esocial_store::AuditEntryRow {
                entry_id: format!("refusal-{}-{i}", uuid::Uuid::new_v4()),
                kind: "exchange.refused".into(),
                recorded_at: esocial_store::timestamp(time::OffsetDateTime::now_utc()),
                exchange_id: None,
                client_id: Some("esocial-core".into()),
                service: Some("GetPersonByIdnp".into()),
                legal_basis: None,
                reason: None,
                case_id: None,
                calling_user_digest: None,
                subject_digest: None,
                person_id: None,
                outcome: "refused".into(),
                error_code: Some("grant.missing".into()),
                fields_released: None,
                request_digest: None,
                response_digest: None,
            })
            .await
            .unwrap();
    }
    log.place_pending().await.unwrap();
    assert_eq!(app.store.pending_audit_count().await.unwrap(), 0);
}

/// A checkpoint of the log as it is now: the one this signs, or the one the hub's own audit
/// worker signed at the same head a moment before.
async fn checkpoint_now(app: &TestApp, log: &AuditLog) -> u64 {
    match log.checkpoint().await.unwrap() {
        Some(size) => size,
        None => {
            let latest = app.store.audit_checkpoints().await.unwrap();
            let size = latest.last().expect("a checkpoint").size;
            assert_eq!(
                size,
                app.store.audit_head().await.unwrap().size,
                "at the head"
            );
            size as u64
        }
    }
}

/// The stored subtree roots give proofs without reading the whole log; a changed root is named
/// by `audit verify` and makes the hub refuse to give a proof; a log without them (placed
/// before they were kept) still proves.
async fn stored_roots_give_proofs_and_a_changed_one_is_named(store_url: String) {
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(store_url.clone()),
        ..SpawnOptions::default()
    })
    .await;
    let log = audit_log(&app);
    let certificate = hub_certificate(&app.pki);
    refusals(&app, &log, 300).await;
    let older = checkpoint_now(&app, &log).await;
    refusals(&app, &log, 300).await;
    let newer = checkpoint_now(&app, &log).await;
    assert!(older >= 300 && newer >= older + 300);

    let nodes = app.store.audit_nodes_page((-1, -1), 100).await.unwrap();
    let keys: Vec<_> = nodes.iter().map(|n| (n.level, n.index)).collect();
    let mut expected: Vec<(i64, i64)> = (0..(newer / 256) as i64).map(|i| (8, i)).collect();
    expected.extend((0..(newer / 512) as i64).map(|i| (9, i)));
    assert_eq!(
        keys, expected,
        "one root for each complete subtree of 256 leaves and up"
    );

    let entry = &app.store.audit_entries(300, 1).await.unwrap()[0]
        .row
        .entry_id;
    let proven = |document: &ProofDocument| proof::check(document, &certificate).unwrap();
    let inclusion = proof::prove_inclusion(&app.store, entry, None, &certificate)
        .await
        .unwrap();
    assert!(proven(&inclusion).contains("is entry 300 of the log"));
    let consistency = proof::prove_consistency(&app.store, older, newer, &certificate)
        .await
        .unwrap();
    proven(&consistency);
    assert!(verified(&app.store, &app.pki).await.is_ok());

    let zero = "0".repeat(64);
    let original = &nodes[0].hash;
    execute(
        &store_url,
        &[&format!(
            "UPDATE audit_nodes SET hash = '{zero}' WHERE level = 8 AND idx = 0"
        )],
    )
    .await;
    assert_eq!(
        verified(&app.store, &app.pki).await,
        Err(Finding::NodeModified { level: 8, index: 0 })
    );
    let refused = proof::prove_inclusion(&app.store, entry, None, &certificate)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("run `audit verify`"), "{refused}");
    execute(
        &store_url,
        &[&format!(
            "UPDATE audit_nodes SET hash = '{original}' WHERE level = 8 AND idx = 0"
        )],
    )
    .await;
    assert!(verified(&app.store, &app.pki).await.is_ok());

    execute(&store_url, &["DELETE FROM audit_nodes"]).await;
    assert_eq!(
        proof::prove_inclusion(&app.store, entry, None, &certificate)
            .await
            .unwrap(),
        inclusion,
        "without stored roots, the same proof from the leaves"
    );
    assert!(verified(&app.store, &app.pki).await.is_ok());
}

#[tokio::test]
async fn stored_roots_give_proofs_and_a_changed_one_is_named_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    stored_roots_give_proofs_and_a_changed_one_is_named(url).await;
}

#[tokio::test]
async fn stored_roots_give_proofs_and_a_changed_one_is_named_on_postgres() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    stored_roots_give_proofs_and_a_changed_one_is_named(url).await;
}

/// Grants change in the settings: a hub that starts with another access matrix than the one it
/// last started with leaves an `operator.grants` entry naming the new and the old digest; the
/// same matrix again leaves none, and so does the first start.
#[tokio::test]
async fn a_change_of_the_access_matrix_is_audited_once() {
    use esocial_hub::audit::log::record_access_matrix;
    let app = spawn_app_with(SpawnOptions::default()).await;
    let log = audit_log(&app);
    let first = app
        .store
        .access_matrix_digest()
        .await
        .unwrap()
        .expect("the hub kept its access matrix's digest at start");
    assert!(!record_access_matrix(&app.store, &first).await.unwrap());
    let changed = "ab".repeat(32);
    assert!(record_access_matrix(&app.store, &changed).await.unwrap());
    assert!(!record_access_matrix(&app.store, &changed).await.unwrap());
    log.place_pending().await.unwrap();
    let recorded: Vec<_> = app
        .store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.row.kind == "operator.grants")
        .map(|entry| (entry.row.request_digest, entry.row.response_digest))
        .collect();
    assert_eq!(recorded, [(Some(changed), Some(first))]);
}
