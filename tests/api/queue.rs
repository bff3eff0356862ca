//! Asynchronous exchanges: one conformance suite run against both queue backends (the
//! embedded queue on the store, and a real RabbitMQ that the test script starts). After each
//! scenario every accepted exchange must be in exactly one terminal state.

use std::time::Duration;

use esocial_sim::Behaviour;
use serde_json::{Value, json};

use crate::async_helpers::{Backend, spawn_async_app};
use crate::helpers::SpawnOptions;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Embedded).await; })*
        }
        mod rabbitmq {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Rabbit).await; })*
        }
    };
}

on_both_backends!(
    an_async_exchange_is_accepted_then_completed,
    an_idempotency_key_returns_the_same_exchange,
    caller_faults_are_never_retried,
    a_replayed_answer_fails_the_async_exchange_it_would_complete,
    retryable_faults_are_retried_until_success,
    exhausted_retries_dead_letter_and_replay_keeps_lineage,
    every_kind_of_registry_failure_ends_each_exchange_once,
    a_registered_callback_is_signed_and_retried_until_delivered,
);

async fn an_async_exchange_is_accepted_then_completed(backend: Backend) {
    let Some(app) = spawn_async_app(backend, 3, SpawnOptions::default()).await else {
        return;
    };

    let id = app.accepted(&app.valid_request()).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["attempts"], 1);
    assert_eq!(status["mode"], "async");
    assert_eq!(status["result"]["exchangeId"], id.as_str());
    assert_eq!(
        status["result"]["data"]["idnp"],
        app.valid_request()["subject"]["idnp"]
    );
    let other = crate::helpers::client_with(
        &app.pki,
        &esocial_wire::crypto::pki::client_holder("benefits"),
    );
    let foreign = app.get_as(&other, &format!("/api/v1/exchanges/{id}")).await;
    crate::helpers::assert_problem(foreign, 404, "caller.unknown_exchange").await;
    app.assert_all_ended_once(1).await;
}

async fn an_idempotency_key_returns_the_same_exchange(backend: Backend) {
    let Some(app) = spawn_async_app(backend, 3, SpawnOptions::default()).await else {
        return;
    };
    let request = app.valid_request();

    let first: Value = app
        .submit_async(&request, Some("case-42-step-1"))
        .await
        .json()
        .await
        .unwrap();
    let again = app.submit_async(&request, Some("case-42-step-1")).await;
    let mut different = request.clone();
    different["purpose"]["reason"] = json!("Another reason entirely");
    let conflict = app.submit_async(&different, Some("case-42-step-1")).await;

    assert_eq!(again.status().as_u16(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["exchangeId"], first["exchangeId"]);
    assert_eq!(again["repeated"], true);
    crate::helpers::assert_problem(conflict, 409, "caller.idempotency_conflict").await;
    app.wait_until_ended(first["exchangeId"].as_str().unwrap())
        .await;
    app.assert_all_ended_once(1).await;
}

async fn caller_faults_are_never_retried(backend: Backend) {
    let Some(app) = spawn_async_app(backend, 5, SpawnOptions::default()).await else {
        return;
    };
    let mut request = app.valid_request();
    let absent =
        esocial_wire::domain::Idnp::from_first_twelve([2, 0, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9]);
    request["subject"]["idnp"] = json!(absent.expose());

    let id = app.accepted(&request).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["attempts"], 1, "a caller fault is not retried");
    assert_eq!(status["error"]["code"], "caller.subject_not_found");
    assert_eq!(status["error"]["retryable"], false);
    app.assert_all_ended_once(1).await;
}

async fn a_replayed_answer_fails_the_async_exchange_it_would_complete(backend: Backend) {
    // A registry that answers every request with the same message id: the second answer
    // is a replay, refused in the transaction that would have completed the exchange.
    let Some(app) = spawn_async_app(
        backend,
        3,
        SpawnOptions {
            behaviour: Behaviour {
                answer_id: Some("answer-always-the-same".into()),
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let first = app.accepted(&app.valid_request()).await;
    let first = app.wait_until_ended(&first).await;
    assert_eq!(first["status"], "completed", "{first}");

    let second = app.accepted(&app.valid_request()).await;
    let second = app.wait_until_ended(&second).await;

    assert_eq!(second["status"], "failed", "{second}");
    assert_eq!(second["error"]["code"], "registry.replayed_answer");
    assert_eq!(second["attempts"], 1, "a replay is not retried");
    assert!(
        second.get("result").is_none(),
        "nothing of the replay is released"
    );
    app.assert_all_ended_once(2).await;
}

async fn retryable_faults_are_retried_until_success(backend: Backend) {
    let Some(app) = spawn_async_app(
        backend,
        5,
        SpawnOptions {
            behaviour: Behaviour::failing_first(2),
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };

    let id = app.accepted(&app.valid_request()).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["attempts"], 3, "two 503s, then success");
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "esocial_hub_retries_total{code=\"registry.unavailable\",registry=\"civil\"} 2"
        ),
        "{metrics}"
    );
    app.assert_all_ended_once(1).await;
}

async fn exhausted_retries_dead_letter_and_replay_keeps_lineage(backend: Backend) {
    let Some(app) = spawn_async_app(
        backend,
        2,
        SpawnOptions {
            behaviour: Behaviour::failing_first(2),
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };

    let id = app.accepted(&app.valid_request()).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "dead_lettered", "{status}");
    assert_eq!(status["attempts"], 2);
    assert!(
        status["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("after 2 attempts")
    );
    let listed: Value = app
        .get("/api/v1/admin/dead-letters")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["deadLetters"][0]["exchangeId"], id.as_str());

    let replayed: Value = app
        .post_json("/api/v1/admin/replay", &json!({"exchangeIds": [id]}))
        .await
        .json()
        .await
        .unwrap();
    let replay = replayed["replayed"][0]["replay"]
        .as_str()
        .unwrap()
        .to_string();
    let status = app.wait_until_ended(&replay).await;

    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        status["parentId"],
        id.as_str(),
        "lineage to the dead letter"
    );
    let twice: Value = app
        .post_json("/api/v1/admin/replay", &json!({"exchangeIds": [replay]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(twice["refused"][0]["code"], "caller.not_dead_lettered");
    app.assert_all_ended_once(2).await;
    // The operator's replay is in the audit log, once (the refused second one is not).
    let mut replays = Vec::new();
    for _ in 0..200 {
        replays = app
            .store
            .audit_entries(0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.row.kind == "operator.replay")
            .collect::<Vec<_>>();
        if !replays.is_empty() && app.store.pending_audit_count().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].row.exchange_id.as_deref(), Some(id.as_str()));
    assert_eq!(replays[0].row.client_id.as_deref(), Some("case-management"));
}

async fn every_kind_of_registry_failure_ends_each_exchange_once(backend: Backend) {
    let failures: [(&str, Behaviour, Option<u64>, &str); 5] = [
        (
            "HTTP 500",
            Behaviour {
                fail_status: Some(500),
                ..Behaviour::default()
            },
            None,
            "dead_lettered",
        ),
        (
            "timeout",
            Behaviour {
                delay: Duration::from_millis(400),
                ..Behaviour::default()
            },
            Some(100),
            "dead_lettered",
        ),
        (
            "dropped connection",
            Behaviour {
                drop_connection: true,
                ..Behaviour::default()
            },
            None,
            "dead_lettered",
        ),
        (
            "garbage",
            Behaviour {
                garbage: true,
                ..Behaviour::default()
            },
            None,
            "failed",
        ),
        (
            "invalid signature",
            Behaviour {
                tamper: true,
                ..Behaviour::default()
            },
            None,
            "failed",
        ),
    ];
    for (name, behaviour, timeout, expected) in failures {
        let Some(app) = spawn_async_app(
            backend,
            2,
            SpawnOptions {
                behaviour,
                registry_timeout_ms: timeout,
                ..SpawnOptions::default()
            },
        )
        .await
        else {
            return;
        };
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(app.accepted(&app.valid_request()).await);
        }
        for id in &ids {
            let status = app.wait_until_ended(id).await;
            assert_eq!(status["status"], expected, "{name}: {status}");
        }
        app.assert_all_ended_once(ids.len()).await;
    }
}

#[tokio::test]
async fn async_is_refused_for_composites() {
    let Some(app) = spawn_async_app(Backend::Embedded, 2, SpawnOptions::default()).await else {
        return;
    };
    let response = app
        .submit_async(&app.request_for("profile.social"), None)
        .await;
    crate::helpers::assert_problem(response, 422, "caller.async_not_supported").await;
}

/// An HTTPS receiver of completion notices (mTLS, like an eSocial module): answers the first
/// one with 500, then 200, and keeps the verified notices.
async fn callback_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let pki = crate::helpers::shared_pki(&["civil".to_string()]);
    let holder = esocial_wire::crypto::pki::registry_holder("civil");
    let tls = esocial_wire::crypto::tls::mutual_tls_acceptor(
        &pki.cert(&holder),
        &pki.key(&holder),
        &pki.ca_cert(),
    )
    .unwrap();
    let verifier = std::sync::Arc::new(
        esocial_wire::crypto::jws::JwsVerifier::from_pem(&std::fs::read(pki.ca_cert()).unwrap())
            .unwrap(),
    );
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = notices.clone();
    let server = HttpServer::new(move || {
        let (verifier, kept, calls) = (verifier.clone(), kept.clone(), calls.clone());
        App::new().default_service(web::post().to(move |body: String| {
            let (verifier, kept, calls) = (verifier.clone(), kept.clone(), calls.clone());
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return HttpResponse::InternalServerError().finish();
                }
                let verified = esocial_wire::crypto::jws::verify_compact(
                    &body,
                    &verifier,
                    std::time::SystemTime::now(),
                )
                .expect("the notice is signed by the hub");
                assert_eq!(verified.signer_common_name, "hub");
                let notice: Value = serde_json::from_slice(&verified.payload).unwrap();
                kept.lock().unwrap().push(notice);
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(1)
    .listen_openssl(listener, tls)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("https://127.0.0.1:{port}/notices"), notices)
}

async fn a_registered_callback_is_signed_and_retried_until_delivered(backend: Backend) {
    let (url, notices) = callback_receiver().await;
    let Some(app) = spawn_async_app(
        backend,
        3,
        SpawnOptions {
            callback_urls: vec![url.clone()],
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let mut request = app.valid_request();
    request["callbackUrl"] = json!("https://elsewhere.example/notices");
    let refused = app.submit_async(&request, None).await;
    crate::helpers::assert_problem(refused, 422, "caller.callback_not_registered").await;

    request["callbackUrl"] = json!(url);
    let id = app.accepted(&request).await;
    app.wait_until_ended(&id).await;
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = notices.lock().unwrap().clone();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(delivered.len(), 1, "delivered once, after one failed try");
    assert_eq!(delivered[0]["exchangeId"], id.as_str());
    assert_eq!(delivered[0]["status"], "completed");
    assert!(
        delivered[0].get("result").is_none(),
        "no personal data in the notice"
    );
    // The receiver has the notice before the hub has recorded the delivery: wait for it.
    let mut recorded = (String::new(), 0);
    for _ in 0..50 {
        recorded = app
            .store
            .callback_state(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        if recorded.0 == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((recorded.0.as_str(), recorded.1), ("delivered", 2));
}

/// Each attempt of one exchange is a new message (a new `MessageId`, which replay caches key
/// on) carrying the same signed `ExchangeId` and its attempt number, so that a registry can
/// recognise a retry.
async fn attempts_of_one_exchange_share_a_signed_exchange_id(backend: Backend) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let Some(app) = spawn_async_app(
        backend,
        3,
        SpawnOptions {
            behaviour: Behaviour {
                received: Some(received.clone()),
                ..Behaviour::failing_first(1)
            },
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };

    let id = app.accepted(&app.valid_request()).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "completed", "{status}");
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "one failed attempt, one that succeeded");
    let header = |text: &str, name: &str| {
        let document = esocial_wire::mconnect::xml::parse(text).unwrap();
        esocial_wire::mconnect::envelope::Envelope::read(&document)
            .unwrap()
            .mconnect_header(name)
            .unwrap()
    };
    for (attempt, text) in messages.iter().enumerate() {
        assert_eq!(header(text, "ExchangeId"), id);
        assert_eq!(header(text, "Attempt"), (attempt + 1).to_string());
        assert!(text.contains("<ds:Reference"), "signed");
    }
    assert_ne!(
        header(&messages[0], "MessageId"),
        header(&messages[1], "MessageId")
    );
}

#[tokio::test]
async fn embedded_attempts_of_one_exchange_share_a_signed_exchange_id() {
    attempts_of_one_exchange_share_a_signed_exchange_id(Backend::Embedded).await;
}

#[tokio::test]
async fn rabbitmq_attempts_of_one_exchange_share_a_signed_exchange_id() {
    attempts_of_one_exchange_share_a_signed_exchange_id(Backend::Rabbit).await;
}
