//! `POST /api/v1/exchanges`: the signed civil-status exchange and every refusal.

use std::time::Duration;

use esocial_sim::Behaviour;
use esocial_store::ExchangeStatus;
use esocial_wire::crypto::pki::{CertificateRole, client_holder, generate_ca, issue_leaf};
use serde_json::{Value, json};

use crate::helpers::{
    SpawnOptions, assert_problem, client_builder, client_with, client_with_pair, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn a_valid_request_returns_the_verified_person_as_canonical_json() {
    // Arrange
    let app = spawn_app().await;
    let request = app.valid_request();
    let subject = app.population.sample_subject();

    // Act
    let response = app.post_exchange(&request).await;

    // Assert
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    esocial_hub::schema::validate("exchange-result", &body).expect("result matches its schema");
    esocial_hub::schema::validate("person", &body["data"]).expect("data matches person schema");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["registry"]["name"], "civil");
    assert_eq!(body["registry"]["signedBy"], "registry-civil");
    assert_eq!(body["data"]["idnp"], subject.idnp.expose());
    assert_eq!(body["data"]["firstName"], subject.first_name.as_str());
    assert_eq!(body["data"]["lastName"], subject.last_name.as_str());
    assert_eq!(body["data"]["birthDate"], subject.birth_date_text());
    assert_eq!(
        body["data"]["address"]["district"],
        subject.address.district.as_str()
    );
}

#[tokio::test]
async fn a_completed_exchange_is_logged_with_digests_and_no_personal_data() {
    let app = spawn_app().await;
    let request = app.valid_request();

    let body: Value = app.post_exchange(&request).await.json().await.unwrap();

    let id = body["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app
        .store
        .exchange(id)
        .await
        .unwrap()
        .expect("exchange logged");
    assert_eq!(record.status, ExchangeStatus::Completed);
    assert_eq!(record.client_id, "case-management");
    assert_eq!(record.service, "civil.person-details");
    assert_eq!(record.legal_basis, "Legea nr. 123/2010, art. 12");
    assert_eq!(record.case_id.as_deref(), Some("CASE-42"));
    assert_eq!(
        record.message_ids.response.as_deref(),
        body["registry"]["messageId"].as_str()
    );
    let outgoing = record
        .message_ids
        .request
        .as_deref()
        .expect("our MessageId");
    assert!(uuid::Uuid::parse_str(outgoing).is_ok());
    assert_ne!(record.message_ids.request, record.message_ids.response);
    assert_eq!(record.direction, "outbound");
    let idnp = request["subject"]["idnp"].as_str().unwrap();
    let (key_id, digest) = record
        .subject_digest
        .split_once('.')
        .expect("key id, then digest");
    assert_eq!((key_id.len(), digest.len()), (16, 64));
    assert!(!format!("{record:?}").contains(idnp), "no IDNP in clear");
    assert_eq!(record.request_digest.as_ref().map(String::len), Some(64));
    assert_eq!(record.response_digest.as_ref().map(String::len), Some(64));
    assert!(record.completed_at.is_some());
}

#[tokio::test]
async fn a_missing_legal_basis_is_refused_and_nothing_is_sent() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    request["purpose"]
        .as_object_mut()
        .unwrap()
        .remove("legalBasis");

    let response = app.post_exchange(&request).await;

    let problem = assert_problem(response, 422, "caller.missing_legal_basis").await;
    assert_eq!(problem["fault"], "caller");
    assert_eq!(problem["retryable"], false);
    assert_eq!(
        app.store
            .count_by_status(ExchangeStatus::Completed)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_missing_or_blank_reason_is_refused() {
    let app = spawn_app().await;
    let mut without = app.valid_request();
    without["purpose"].as_object_mut().unwrap().remove("reason");
    let mut blank = app.valid_request();
    blank["purpose"]["reason"] = json!("  ");

    for request in [without, blank] {
        let response = app.post_exchange(&request).await;
        assert_problem(response, 422, "caller.missing_reason").await;
    }
}

#[tokio::test]
async fn an_idnp_with_a_wrong_check_digit_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    let idnp = request["subject"]["idnp"].as_str().unwrap().to_string();
    let last = idnp.chars().last().unwrap().to_digit(10).unwrap();
    let mistyped = format!("{}{}", &idnp[..12], (last + 1) % 10);
    request["subject"]["idnp"] = json!(mistyped);

    let response = app.post_exchange(&request).await;

    let problem = assert_problem(response, 422, "caller.invalid_idnp").await;
    assert!(problem["detail"].as_str().unwrap().contains("subject.idnp"));
    assert!(
        !problem["detail"].as_str().unwrap().contains(&mistyped),
        "no IDNP echoed"
    );
}

#[tokio::test]
async fn an_invalid_calling_user_idnp_is_refused() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    request["caller"]["userIdnp"] = json!("1234567890123");

    let response = app.post_exchange(&request).await;

    let problem = assert_problem(response, 422, "caller.invalid_idnp").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("caller.userIdnp")
    );
}

#[tokio::test]
async fn schema_violations_are_listed_with_json_pointers() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    request["subject"]["idnp"] = json!(2000000000007u64);
    request["unexpected"] = json!(true);

    let response = app.post_exchange(&request).await;

    let problem = assert_problem(response, 400, "caller.invalid_request").await;
    let pointers: Vec<&str> = problem["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/subject/idnp"), "{pointers:?}");
    assert!(pointers.contains(&""), "{pointers:?}");
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_are_refused() {
    let app = spawn_app().await;

    let malformed = app
        .post_exchange_raw(&app.client, b"{\"service\": ".to_vec())
        .await
        .unwrap();
    assert_problem(malformed, 400, "caller.malformed_json").await;

    let oversized = app
        .post_exchange_raw(&app.client, vec![b' '; 70 * 1024])
        .await
        .unwrap();
    let problem = assert_problem(oversized, 400, "caller.invalid_request").await;
    assert!(
        problem["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
}

#[tokio::test]
async fn an_unknown_service_is_refused() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    request["service"] = json!("civil.marriage-records");

    let response = app.post_exchange(&request).await;

    assert_problem(response, 404, "caller.unknown_service").await;
}

#[tokio::test]
async fn a_client_without_a_grant_is_denied_naming_the_service() {
    let app = spawn_app().await;
    let benefits = client_with(&app.pki, &client_holder("benefits"));

    let response = app
        .post_exchange_as(&benefits, &app.request_for("police.protection-orders"))
        .await;

    let problem = assert_problem(response, 403, "caller.access_denied").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("police.protection-orders"), "{detail}");
    assert_eq!(
        app.store
            .count_by_status(ExchangeStatus::Completed)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store
            .count_by_status(ExchangeStatus::Failed)
            .await
            .unwrap(),
        0
    );
    // No exchange, but the refusal is in the audit log, with the purpose it stated.
    for _ in 0..200 {
        if app.store.pending_audit_count().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let entries: Vec<_> = app
        .store
        .audit_entries(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.row)
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].kind, "exchange.refused");
    assert_eq!(entries[0].client_id.as_deref(), Some("benefits"));
    assert_eq!(
        entries[0].service.as_deref(),
        Some("police.protection-orders")
    );
    assert_eq!(
        entries[0].error_code.as_deref(),
        Some("caller.access_denied")
    );
    assert_eq!(entries[0].outcome, "refused");
}

#[tokio::test]
async fn a_trusted_certificate_of_an_unregistered_client_is_refused() {
    let app = spawn_app().await;
    let ca = esocial_wire::crypto::pki::KeyPair {
        certificate: openssl::x509::X509::from_pem(&std::fs::read(app.pki.ca_cert()).unwrap())
            .unwrap(),
        key: openssl::pkey::PKey::private_key_from_pem(&std::fs::read(app.pki.ca_key()).unwrap())
            .unwrap(),
    };
    let stranger = issue_leaf(&ca, "unregistered-module", CertificateRole::Client).unwrap();
    let client = client_with_pair(&app.pki, &stranger);

    let response = app.post_exchange_as(&client, &app.valid_request()).await;

    assert_problem(response, 403, "caller.unknown_client").await;
}

#[tokio::test]
async fn connections_without_a_trusted_client_certificate_are_refused_by_tls() {
    let app = spawn_app().await;
    let anonymous = client_builder(&app.pki).build().unwrap();
    let rogue_ca = generate_ca("Rogue CA").unwrap();
    let rogue = issue_leaf(&rogue_ca, "case-management", CertificateRole::Client).unwrap();
    let impostor = client_with_pair(&app.pki, &rogue);

    for client in [anonymous, impostor] {
        let result = app
            .post_exchange_raw(&client, app.valid_request().to_string().into_bytes())
            .await;
        assert!(result.is_err(), "the TLS handshake must fail");
    }
}

#[tokio::test]
async fn an_unknown_person_gets_a_caller_fault_and_a_failed_log_entry() {
    let app = spawn_app().await;
    let mut request = app.valid_request();
    // A valid IDNP that the synthetic population does not contain.
    let absent =
        esocial_wire::domain::Idnp::from_first_twelve([2, 0, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9]);
    assert!(app.population.find(absent.expose()).is_none());
    request["subject"]["idnp"] = json!(absent.expose());

    let response = app.post_exchange(&request).await;

    let problem = assert_problem(response, 404, "caller.subject_not_found").await;
    let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert_eq!(
        record.error_code.as_deref(),
        Some("caller.subject_not_found")
    );
}

async fn assert_registry_signature_refused(options: SpawnOptions) {
    let app = spawn_app_with(options).await;

    let response = app.post_exchange(&app.valid_request()).await;

    let problem = assert_problem(response, 502, "registry.invalid_signature").await;
    assert_eq!(problem["fault"], "registry");
    assert_eq!(problem["retryable"], false);
    let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert_eq!(
        record.error_code.as_deref(),
        Some("registry.invalid_signature")
    );
}

#[tokio::test]
async fn a_tampered_answer_is_rejected_as_a_registry_fault() {
    assert_registry_signature_refused(SpawnOptions {
        behaviour: Behaviour {
            tamper: true,
            ..Behaviour::default()
        },
        ..SpawnOptions::default()
    })
    .await;
}

#[tokio::test]
async fn an_unsigned_answer_is_rejected() {
    assert_registry_signature_refused(SpawnOptions {
        behaviour: Behaviour {
            unsigned: true,
            ..Behaviour::default()
        },
        ..SpawnOptions::default()
    })
    .await;
}

#[tokio::test]
async fn an_expired_answer_is_rejected() {
    assert_registry_signature_refused(SpawnOptions {
        behaviour: Behaviour {
            expired: true,
            ..Behaviour::default()
        },
        ..SpawnOptions::default()
    })
    .await;
}

#[tokio::test]
async fn an_answer_signed_by_an_untrusted_key_is_rejected() {
    assert_registry_signature_refused(SpawnOptions {
        untrusted_signer: true,
        ..SpawnOptions::default()
    })
    .await;
}

/// Sends two exchanges (SOAP for civil, REST for health) and returns the second answer.
async fn second_of_two_exchanges(
    app: &crate::helpers::TestApp,
    service: &str,
) -> reqwest::Response {
    let mut request = app.valid_request();
    request["service"] = json!(service);
    let first = app.post_exchange(&request).await;
    assert_eq!(first.status(), 200, "the first answer is genuine");
    request["subject"]["idnp"] = json!("2000000000015");
    app.post_exchange(&request).await
}

#[tokio::test]
async fn a_replayed_answer_is_refused_on_both_transports() {
    // A registry that sends its first signed answer again, byte for byte, to the next
    // request: the answer is genuine but bound to the first request.
    for service in ["civil.person-details", "health.insurance-status"] {
        let app = spawn_app_with(SpawnOptions {
            behaviour: Behaviour {
                replay_first_answer: true,
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        })
        .await;

        let response = second_of_two_exchanges(&app, service).await;

        let problem = assert_problem(response, 502, "registry.unbound_answer").await;
        assert_eq!(problem["fault"], "registry", "{service}");
        assert_eq!(problem["retryable"], false);
        let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
        let record = app.store.exchange(id).await.unwrap().unwrap();
        assert_eq!(
            record.error_code.as_deref(),
            Some("registry.unbound_answer")
        );
    }
}

#[tokio::test]
async fn an_answer_about_another_person_is_refused() {
    for service in ["civil.person-details", "health.insurance-status"] {
        // Arrange: the registry answers, correctly signed and bound, about someone else.
        let population = esocial_sim::population::Population::synthetic(11, 300);
        let other = population.persons()[5].idnp.expose().to_string();
        let app = spawn_app_with(SpawnOptions {
            behaviour: Behaviour {
                answer_about: Some(other.clone()),
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        })
        .await;
        let mut request = app.valid_request();
        request["service"] = json!(service);
        assert_ne!(request["subject"]["idnp"], other.as_str());

        // Act
        let response = app.post_exchange(&request).await;

        // Assert
        let problem = assert_problem(response, 502, "registry.unbound_answer").await;
        assert!(!problem.to_string().contains(&other), "{service}");
    }
}

#[tokio::test]
async fn http_errors_are_classified_alike_on_both_transports() {
    // 429 asks to come back later; another 4xx without a signed answer is an unusable answer,
    // not a bad signature.
    for (status, code, retryable) in [
        (429, "registry.unavailable", true),
        (403, "registry.invalid_response", false),
        (503, "registry.unavailable", true),
    ] {
        let app = spawn_app_with(SpawnOptions {
            behaviour: Behaviour {
                fail_status: Some(status),
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        })
        .await;
        for service in ["civil.person-details", "health.insurance-status"] {
            let mut request = app.valid_request();
            request["service"] = json!(service);

            let response = app.post_exchange(&request).await;

            let problem = assert_problem(response, 502, code).await;
            assert_eq!(
                problem["retryable"], retryable,
                "HTTP {status} from {service}"
            );
        }
    }
}

#[tokio::test]
async fn an_answer_reusing_a_message_id_is_refused_as_a_replay() {
    for service in ["civil.person-details", "health.insurance-status"] {
        let app = spawn_app_with(SpawnOptions {
            behaviour: Behaviour {
                answer_id: Some("answer-always-the-same".into()),
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        })
        .await;

        let response = second_of_two_exchanges(&app, service).await;

        let problem = assert_problem(response, 502, "registry.replayed_answer").await;
        let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
        let record = app.store.exchange(id).await.unwrap().unwrap();
        assert_eq!(record.status, ExchangeStatus::Failed, "{service}");
        assert_eq!(
            record.error_code.as_deref(),
            Some("registry.replayed_answer"),
            "{service}: the log names the replay"
        );
        assert!(
            record.message_ids.response.is_some(),
            "{service}: and the replayed answer's id"
        );
    }
}

#[tokio::test]
async fn a_registry_that_is_down_gives_a_retryable_registry_fault() {
    let app = spawn_app_with(SpawnOptions {
        down: vec!["civil"],
        ..SpawnOptions::default()
    })
    .await;

    let response = app.post_exchange(&app.valid_request()).await;

    let problem = assert_problem(response, 502, "registry.unavailable").await;
    assert_eq!(problem["fault"], "registry");
    assert_eq!(problem["retryable"], true);
}

#[tokio::test]
async fn a_registry_that_keeps_failing_opens_its_circuit_for_sync_exchanges_too() {
    // Arrange: the civil registry is down; the default breaker opens after five consecutive
    // failures of the registry itself.
    let app = spawn_app_with(SpawnOptions {
        down: vec!["civil"],
        ..SpawnOptions::default()
    })
    .await;
    for _ in 0..5 {
        let response = app.post_exchange(&app.valid_request()).await;
        let problem = assert_problem(response, 502, "registry.unavailable").await;
        assert!(!problem["detail"].as_str().unwrap().contains("circuit open"));
    }

    // Act
    let response = app.post_exchange(&app.valid_request()).await;

    // Assert: refused without calling the registry, retryable; others are not affected.
    let problem = assert_problem(response, 502, "registry.unavailable").await;
    assert_eq!(problem["retryable"], true);
    assert!(problem["detail"].as_str().unwrap().contains("circuit open"));
    let mut request = app.valid_request();
    request["service"] = json!("health.insurance-status");
    let other = app.post_exchange(&request).await;
    assert_eq!(other.status(), 200, "other registries are not affected");
    let ready: Value = app.get_ops("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["checks"]["registry.civil"], "down");
}

#[tokio::test]
async fn a_slow_registry_times_out_with_a_clear_registry_fault() {
    let app = spawn_app_with(SpawnOptions {
        behaviour: Behaviour {
            delay: Duration::from_secs(3),
            ..Behaviour::default()
        },
        registry_timeout_ms: Some(300),
        ..SpawnOptions::default()
    })
    .await;

    let started = std::time::Instant::now();
    let response = app.post_exchange(&app.valid_request()).await;

    let problem = assert_problem(response, 504, "registry.timeout").await;
    assert_eq!(problem["retryable"], true);
    assert!(problem["detail"].as_str().unwrap().contains("300 ms"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the hub must not wait for the registry"
    );
    let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.error_code.as_deref(), Some("registry.timeout"));
}

#[tokio::test]
async fn unknown_paths_get_problem_json() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/api/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();

    assert_problem(response, 404, "caller.no_such_endpoint").await;
}

#[tokio::test]
async fn a_registry_with_every_call_slot_busy_refuses_the_call_that_waited_too_long() {
    // Arrange: one call in flight at a time, answers after 2.5 s, timeout 4 s.
    let app = spawn_app_with(SpawnOptions {
        behaviour: Behaviour {
            delay: Duration::from_millis(2_500),
            ..Behaviour::default()
        },
        registry_timeout_ms: Some(4_000),
        max_in_flight: Some(1),
        ..SpawnOptions::default()
    })
    .await;
    let request = app.valid_request();

    // Act: three calls at once. The first holds the slot for 2.5 s, the second waits for it
    // and holds it until about 5 s; the third is still waiting when its 4 s are up.
    let (first, second, third) = tokio::join!(
        app.post_exchange(&request),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.post_exchange(&request).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.post_exchange(&request).await
        },
    );

    // Assert
    assert_eq!(first.status(), 200);
    assert_eq!(
        second.status(),
        200,
        "a call that got a slot in time goes through"
    );
    let problem = assert_problem(third, 503, "hub.overloaded").await;
    assert_eq!(problem["retryable"], true);
    let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.error_code.as_deref(), Some("hub.overloaded"));
}

/// Simulators whose answers carry a scanned document of `bytes`.
fn with_attachment(bytes: usize) -> SpawnOptions {
    SpawnOptions {
        behaviour: Behaviour {
            attachment_bytes: bytes,
            ..Behaviour::default()
        },
        ..SpawnOptions::default()
    }
}

#[tokio::test]
async fn a_five_megabyte_answer_goes_through_within_the_answer_limit() {
    let app = spawn_app_with(with_attachment(5 * 1024 * 1024)).await;
    let subject = app.population.sample_subject();

    let response = app.post_exchange(&app.valid_request()).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["data"]["idnp"], subject.idnp.expose());
    assert!(
        !body.to_string().contains("JVBERi0x"),
        "the attachment no mapping reads stays out of the result"
    );
}

#[tokio::test]
async fn a_five_megabyte_rest_answer_goes_through_within_the_answer_limit() {
    let app = spawn_app_with(with_attachment(5 * 1024 * 1024)).await;

    let response = app
        .post_exchange(&app.request_for("health.insurance-status"))
        .await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["registry"]["name"], "health");
    assert!(!body.to_string().contains("JVBERi0x"));
}

#[tokio::test]
async fn an_answer_over_the_registrys_limit_is_refused_before_it_is_read() {
    let app = spawn_app_with(SpawnOptions {
        max_answer_bytes: Some(1024 * 1024),
        ..with_attachment(2 * 1024 * 1024)
    })
    .await;

    let response = app.post_exchange(&app.valid_request()).await;

    let problem = assert_problem(response, 502, "registry.invalid_response").await;
    assert_eq!(problem["retryable"], false);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("answer larger than 1048576 bytes"),
        "{problem}"
    );
    let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert_eq!(
        record.response_digest, None,
        "nothing of the answer was kept"
    );
}
