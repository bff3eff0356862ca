//! Helpers for asynchronous exchanges, shared by the API tests and the fault tests.

use std::time::Duration;

use esocial_hub::config::{QueueConfig, QueueKind};
use esocial_store::ExchangeStatus;
use serde_json::{Value, json};

use crate::helpers::{SpawnOptions, TestApp, assert_matches_openapi, spawn_app_with};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Embedded,
    Rabbit,
}

/// The broker URL of the test RabbitMQ, or `None` (with a notice) when there is none.
pub fn rabbit_url() -> Option<String> {
    match std::env::var("ESOCIAL_TEST_AMQP_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("ESOCIAL_REQUIRE_RABBITMQ").is_err(),
                "ESOCIAL_REQUIRE_RABBITMQ is set but ESOCIAL_TEST_AMQP_URL is not"
            );
            eprintln!(
                "ESOCIAL_TEST_AMQP_URL not set: RabbitMQ test not run (scripts/test.sh runs it)"
            );
            None
        }
    }
}

/// Fast retries for tests; a namespace of its own on the shared broker.
pub fn queue_config(backend: Backend, max_attempts: u32) -> Option<QueueConfig> {
    let mut config = QueueConfig {
        max_attempts,
        base_delay_ms: 20,
        max_delay_ms: 200,
        lease_ms: 5_000,
        breaker_threshold: 1_000,
        republish_after_ms: 2_000,
        ..QueueConfig::default()
    };
    if let Backend::Rabbit = backend {
        config.backend = QueueKind::Rabbitmq;
        config.amqp_url = Some(rabbit_url()?.into());
        config.namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    }
    Some(config)
}

pub async fn spawn_async_app(
    backend: Backend,
    max_attempts: u32,
    options: SpawnOptions,
) -> Option<TestApp> {
    let queue = queue_config(backend, max_attempts)?;
    Some(
        spawn_app_with(SpawnOptions {
            queue: Some(queue),
            ..options
        })
        .await,
    )
}

impl TestApp {
    pub async fn submit_async(&self, request: &Value, key: Option<&str>) -> reqwest::Response {
        let mut body = request.clone();
        body["mode"] = json!("async");
        let mut builder = self
            .client
            .post(format!("{}/api/v1/exchanges", self.address))
            .json(&body);
        if let Some(key) = key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.send().await.expect("request reaches the hub")
    }

    /// Submits and returns the exchange id, checking the 202 answer.
    pub async fn accepted(&self, request: &Value) -> String {
        let response = self.submit_async(request, None).await;
        assert_eq!(response.status().as_u16(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        assert_matches_openapi("/api/v1/exchanges", "post", 202, &body);
        let id = body["exchangeId"].as_str().unwrap().to_string();
        assert_eq!(location, format!("/api/v1/exchanges/{id}"));
        id
    }

    pub async fn exchange_status(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/exchanges/{id}")).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_matches_openapi("/api/v1/exchanges/{exchangeId}", "get", 200, &body);
        body
    }

    /// Polls until the exchange has ended.
    pub async fn wait_until_ended(&self, id: &str) -> Value {
        for _ in 0..300 {
            let status = self.exchange_status(id).await;
            if status["status"] != "in_progress" {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("exchange {id} did not end within 30 s");
    }

    /// Every accepted exchange has ended exactly once: none in progress, and as many
    /// successful completions counted as completed rows.
    pub async fn assert_all_ended_once(&self, accepted: usize) {
        let completed = self
            .store
            .count_by_status(ExchangeStatus::Completed)
            .await
            .unwrap();
        let failed = self
            .store
            .count_by_status(ExchangeStatus::Failed)
            .await
            .unwrap();
        let in_progress = self
            .store
            .count_by_status(ExchangeStatus::InProgress)
            .await
            .unwrap();
        assert_eq!(in_progress, 0, "nothing may stay in progress");
        assert_eq!(
            (completed + failed) as usize,
            accepted,
            "nothing lost, nothing extra"
        );
        let metrics = self.get_ops("/metrics").await.text().await.unwrap();
        let ok: i64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("esocial_hub_exchanges_total{") && l.contains("outcome=\"ok\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum();
        assert_eq!(ok, completed, "no exchange completed twice");
    }
}
