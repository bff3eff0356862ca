//! Operations endpoints: liveness, readiness and metrics.

use serde_json::Value;

use crate::helpers::{SpawnOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_answers() {
    let app = spawn_app().await;

    let response = app.get_ops("/health/live").await;

    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn readiness_covers_store_key_and_registries() {
    let app = spawn_app().await;

    let response = app.get_ops("/health/ready").await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["store"], "up");
    assert_eq!(body["checks"]["signingKey"], "loaded");
    assert_eq!(body["checks"]["registry.civil"], "up");
}

#[tokio::test]
async fn readiness_fails_when_a_registry_is_unreachable() {
    let app = spawn_app_with(SpawnOptions {
        down: vec!["civil"],
        ..SpawnOptions::default()
    })
    .await;

    let response = app.get_ops("/health/ready").await;

    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["registry.civil"], "down");
}

/// A registry that accepts connections but does not answer in time is not ready, although a
/// TCP connect to it succeeds.
#[tokio::test]
async fn readiness_fails_when_a_reachable_registry_stops_answering() {
    let app = spawn_app_with(SpawnOptions {
        behaviour: esocial_sim::Behaviour {
            delay: std::time::Duration::from_secs(2),
            ..Default::default()
        },
        registry_timeout_ms: Some(200),
        ..SpawnOptions::default()
    })
    .await;
    let before: Value = app.get_ops("/health/ready").await.json().await.unwrap();
    assert_eq!(before["checks"]["registry.civil"], "up");

    let response = app.post_exchange(&app.valid_request()).await;
    assert_eq!(response.status().as_u16(), 504);
    let response = app.get_ops("/health/ready").await;

    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["registry.civil"], "not_answering");
    assert_eq!(body["checks"]["registry.health"], "up");
}

#[tokio::test]
async fn metrics_count_exchanges_by_outcome() {
    let app = spawn_app().await;
    app.post_exchange(&app.valid_request()).await;

    let text = app.get_ops("/metrics").await.text().await.unwrap();

    assert!(
        text.contains(
            r#"esocial_hub_exchanges_total{outcome="ok",service="civil.person-details"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("esocial_hub_registry_call_duration_seconds_bucket"));
}
