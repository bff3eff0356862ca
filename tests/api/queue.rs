//! Asynchronous exchanges: one conformance suite run against both queue backends (the
//! embedded queue on the store, and a real RabbitMQ that the test script starts). After each
//! scenario every accepted exchange must be in exactly one terminal state.

use std::time::Duration;

use esocial_hub::simulate::Behaviour;
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
    retryable_faults_are_retried_until_success,
    exhausted_retries_dead_letter_and_replay_keeps_lineage,
    every_kind_of_registry_failure_ends_each_exchange_once,
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
        &esocial_hub::crypto::pki::client_holder("benefits"),
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
    let absent = esocial_hub::domain::Idnp::from_first_twelve([2, 0, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9]);
    request["subject"]["idnp"] = json!(absent.expose());

    let id = app.accepted(&request).await;
    let status = app.wait_until_ended(&id).await;

    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["attempts"], 1, "a caller fault is not retried");
    assert_eq!(status["error"]["code"], "caller.subject_not_found");
    assert_eq!(status["error"]["retryable"], false);
    app.assert_all_ended_once(1).await;
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
