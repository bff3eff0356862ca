//! The same exchange flow on PostgreSQL. The test script starts a server and sets
//! `ESOCIAL_TEST_POSTGRES_URL`; with `ESOCIAL_REQUIRE_POSTGRES=1` a missing server fails.

use serde_json::Value;

use crate::helpers::{SpawnOptions, spawn_app_with};

/// A fresh, empty database on the test server, or `None` when no server is configured.
pub async fn fresh_postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("ESOCIAL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("ESOCIAL_REQUIRE_POSTGRES").is_err(),
            "ESOCIAL_REQUIRE_POSTGRES is set but ESOCIAL_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "ESOCIAL_TEST_POSTGRES_URL not set: PostgreSQL test not run (scripts/test.sh runs it)"
        );
        return None;
    };
    use sqlx::Connection;
    let name = format!("hub_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&base)
        .await
        .expect("the PostgreSQL test server accepts connections");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("create a test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database path");
    Some(format!("{prefix}/{name}"))
}

#[tokio::test]
async fn an_exchange_completes_and_is_logged_on_postgres() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(url),
        ..SpawnOptions::default()
    })
    .await;
    assert_eq!(app.store.backend(), esocial_store::Backend::Postgres);

    let response = app.post_exchange(&app.valid_request()).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let id = body["exchangeId"].as_str().unwrap().parse().unwrap();
    let record = app.store.exchange(id).await.unwrap().unwrap();
    assert_eq!(record.status, esocial_store::ExchangeStatus::Completed);
}

#[tokio::test]
async fn the_master_index_links_merges_and_restores_on_postgres() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    let app = spawn_app_with(SpawnOptions {
        store_url: Some(url),
        ..SpawnOptions::default()
    })
    .await;
    let record = |local_id: &str, first: &str| {
        serde_json::json!({"source": "social", "record": {
            "localId": local_id, "idnp": "2000000000015", "firstName": first,
            "lastName": "Ceban", "birthDate": "1980-04-07", "sex": "M"}})
    };
    let first: Value = app
        .post_json("/api/v1/persons/records", &record("1", "Ion"))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post_json("/api/v1/persons/records", &record("2", "Ион"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["personId"], second["personId"]);
    let other: Value = app
        .post_json(
            "/api/v1/persons/records",
            &serde_json::json!({"source": "police", "record": {"localId": "9", "lastName": "Lungu"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (a, b) = (
        first["personId"].as_str().unwrap(),
        other["personId"].as_str().unwrap(),
    );
    let before: Value = app
        .get(&format!("/api/v1/persons/{b}"))
        .await
        .json()
        .await
        .unwrap();
    let merge = app
        .post_json(
            &format!("/api/v1/persons/{a}/merge"),
            &serde_json::json!({"personId": b}),
        )
        .await;
    assert_eq!(merge.status(), 200);
    let unmerge = app
        .post_json(
            &format!("/api/v1/persons/{a}/unmerge"),
            &serde_json::json!({"personId": b}),
        )
        .await;
    assert_eq!(unmerge.status(), 200);
    let after: Value = app
        .get(&format!("/api/v1/persons/{b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    let history: Value = app
        .get(&format!("/api/v1/persons/{a}/history"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["entries"].as_array().unwrap().len(), 4, "{history}");
}
