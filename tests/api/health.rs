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
