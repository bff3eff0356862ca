//! Every registry through the hub: golden exchanges from the adapter fixtures, discovery,
//! contracts, field limits, the composite profile, and adding a registry with files only.

use std::path::Path;

use esocial_catalog::{Catalog, ContractPart};
use esocial_wire::crypto::pki::client_holder;
use serde_json::{Value, json};

use crate::helpers::{
    SpawnOptions, adapters_dir, assert_matches_openapi, assert_problem, client_with, contracts_dir,
    spawn_app, spawn_app_with,
};

#[tokio::test]
async fn every_fixture_goes_end_to_end_through_hub_and_simulator() {
    // Arrange
    let app = spawn_app().await;
    let mut checked = 0;
    for service in app.catalog.services() {
        let folder = app.catalog.folder(&service.registry).unwrap();
        for case in esocial_catalog::fixtures::load_cases(folder, service).unwrap() {
            let mut request = app.request_for(&service.id);
            request["subject"]["idnp"] = json!(case.expected.subject.idnp);

            // Act
            let response = app.post_exchange(&request).await;

            // Assert
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            match (&case.expected.data, &case.expected.error) {
                (Some(data), _) => {
                    assert_eq!(status, 200, "{} {}: {body}", service.id, case.name);
                    assert_eq!(&body["data"], data, "{} {}", service.id, case.name);
                    assert_eq!(
                        body["registry"]["signedBy"],
                        format!("registry-{}", service.registry)
                    );
                    assert_matches_openapi("/api/v1/exchanges", "post", 200, &body);
                }
                (None, Some(code)) => {
                    assert_eq!(&body["code"], code, "{} {}: {body}", service.id, case.name);
                }
                (None, None) => unreachable!("fixtures have data or an error"),
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 2 * app.catalog.services().count(),
        "only {checked} fixture cases"
    );
}

#[tokio::test]
async fn every_service_answers_for_a_person_of_the_synthetic_population() {
    let app = spawn_app().await;
    for service in app.catalog.services() {
        let response = app.post_exchange(&app.request_for(&service.id)).await;

        assert_eq!(response.status().as_u16(), 200, "{}", service.id);
        let body: Value = response.json().await.unwrap();
        service
            .contract
            .validate(ContractPart::Response, &body["data"])
            .unwrap_or_else(|v| panic!("{}: {v:?}", service.id));
        assert_eq!(
            body["data"]["idnp"],
            app.valid_request()["subject"]["idnp"],
            "{}",
            service.id
        );
    }
}

#[tokio::test]
async fn a_grant_limited_to_some_fields_gets_only_those() {
    let app = spawn_app().await;
    let benefits = client_with(&app.pki, &client_holder("benefits"));

    let response = app.post_exchange_as(&benefits, &app.valid_request()).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let data = body["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["address", "firstName", "idnp", "lastName", "status"]);
    assert_eq!(
        data["address"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["district"]
    );
}

#[tokio::test]
async fn discovery_lists_every_service_and_what_the_caller_may_use() {
    let app = spawn_app().await;
    let benefits = client_with(&app.pki, &client_holder("benefits"));

    let all: Value = app.get("/api/v1/services").await.json().await.unwrap();
    let allowed: Value = app
        .get_as(&benefits, "/api/v1/services/allowed")
        .await
        .json()
        .await
        .unwrap();

    assert_matches_openapi("/api/v1/services", "get", 200, &all);
    assert_matches_openapi("/api/v1/services/allowed", "get", 200, &allowed);
    let ids = |v: &Value| -> Vec<String> {
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all_ids = ids(&all);
    for service in app.catalog.services() {
        assert!(all_ids.contains(&service.id), "{} missing", service.id);
    }
    assert!(all_ids.contains(&"profile.social".to_string()));
    assert_eq!(
        ids(&allowed),
        [
            "civil.person-details",
            "health.disability",
            "health.insurance-status",
            "profile.social"
        ]
    );
    let police = all["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "police.protection-orders")
        .unwrap();
    assert_eq!(police["sensitive"], true);
    let person = &allowed["services"][0];
    assert_eq!(person["fields"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn each_service_contract_can_be_downloaded() {
    let app = spawn_app().await;

    let soap: Value = app
        .get("/api/v1/services/police.protection-orders/contract")
        .await
        .json()
        .await
        .unwrap();
    let rest: Value = app
        .get("/api/v1/services/health.disability/contract")
        .await
        .json()
        .await
        .unwrap();
    let unknown = app.get("/api/v1/services/civil.nothing/contract").await;

    assert_matches_openapi("/api/v1/services/{serviceId}/contract", "get", 200, &soap);
    assert_eq!(soap["wire"]["type"], "wsdl");
    assert!(
        soap["wire"]["document"]
            .as_str()
            .unwrap()
            .contains("definitions")
    );
    assert_eq!(rest["wire"]["type"], "openapi");
    assert_eq!(soap["response"]["type"], "object");
    assert_problem(unknown, 404, "caller.unknown_service").await;
}

#[tokio::test]
async fn contract_validation_reports_every_violation_with_its_pointer() {
    let app = spawn_app().await;
    let document = json!({"idnp": "12", "status": "maybe", "extra": 1});

    let response = app
        .post_json(
            "/api/v1/contracts/justice.probation/validate",
            &json!({"kind": "response", "document": document}),
        )
        .await;
    let valid_request = app
        .post_json(
            "/api/v1/contracts/justice.probation/validate",
            &json!({"kind": "request", "document": app.request_for("justice.probation")}),
        )
        .await;

    let body: Value = response.json().await.unwrap();
    assert_matches_openapi("/api/v1/contracts/{serviceId}/validate", "post", 200, &body);
    assert_eq!(body["valid"], false);
    let pointers: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/idnp"), "{pointers:?}");
    assert!(pointers.contains(&"/status"), "{pointers:?}");
    assert!(pointers.contains(&""), "{pointers:?}");
    let valid: Value = valid_request.json().await.unwrap();
    assert_eq!(valid, json!({"valid": true, "violations": []}));
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = spawn_app().await;

    let served: Value = app.get("/openapi.json").await.json().await.unwrap();

    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(contracts_dir().join("openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, shipped);
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn the_composite_profile_survives_a_registry_that_is_down() {
    let app = spawn_app_with(SpawnOptions {
        down: vec!["health"],
        ..SpawnOptions::default()
    })
    .await;

    let response = app.post_exchange(&app.request_for("profile.social")).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_matches_openapi("/api/v1/exchanges", "post", 200, &body);
    let parts = body["data"]["parts"].as_array().unwrap();
    let composite = app.catalog.composite("profile.social").unwrap();
    assert_eq!(parts.len(), composite.services.len());
    for part in parts {
        let service = part["service"].as_str().unwrap();
        if service.starts_with("health.") {
            assert_eq!(part["status"], "failed", "{part}");
            assert_eq!(part["error"]["code"], "registry.unavailable");
            assert_eq!(part["error"]["retryable"], true);
        } else {
            assert_eq!(part["status"], "completed", "{part}");
            assert!(part["data"].is_object());
        }
    }
    let parent = body["exchangeId"].as_str().unwrap().parse().unwrap();
    let children = app.store.children_of(parent).await.unwrap();
    assert_eq!(children.len(), composite.services.len());
}

#[tokio::test]
async fn a_composite_leaves_out_what_the_caller_may_not_see() {
    let app = spawn_app().await;
    let benefits = client_with(&app.pki, &client_holder("benefits"));

    let response = app
        .post_exchange_as(&benefits, &app.request_for("profile.social"))
        .await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let parts = body["data"]["parts"].as_array().unwrap();
    let police = parts
        .iter()
        .find(|p| p["service"] == "police.protection-orders")
        .unwrap();
    assert_eq!(
        police,
        &json!({"service": "police.protection-orders", "status": "forbidden"})
    );
    let person = parts
        .iter()
        .find(|p| p["service"] == "civil.person-details")
        .unwrap();
    assert!(
        person["data"].get("birthDate").is_none(),
        "field limits apply to parts"
    );
}

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn shipped_catalog_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&adapters_dir(), &dir.path().join("adapters"));
    copy_tree(&contracts_dir(), &dir.path().join("contracts"));
    dir
}

#[tokio::test]
async fn a_sixth_registry_is_added_with_files_only() {
    // Arrange: the shipped catalog plus one folder of adapters and one of contracts.
    let dir = shipped_catalog_copy();
    let sixth = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sixth-registry");
    copy_tree(&sixth.join("adapters"), &dir.path().join("adapters"));
    copy_tree(&sixth.join("contracts"), &dir.path().join("contracts"));
    let app = spawn_app_with(SpawnOptions {
        catalog_dirs: Some((dir.path().join("adapters"), dir.path().join("contracts"))),
        ..SpawnOptions::default()
    })
    .await;
    let mut request = app.request_for("labour.employment");
    request["subject"]["idnp"] = json!("2999000000209");

    // Act
    let response = app.post_exchange(&request).await;

    // Assert
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["registry"]["signedBy"], "registry-labour");
    assert_eq!(
        body["data"],
        json!({"idnp": "2999000000209", "status": "unemployed-registered", "since": "2026-03-02", "unemploymentBenefit": true})
    );
}

fn load_error(dir: &tempfile::TempDir) -> String {
    Catalog::load(&dir.path().join("adapters"), &dir.path().join("contracts"))
        .expect_err("a broken adapter must be refused")
        .to_string()
}

#[test]
fn a_broken_adapter_folder_is_refused_naming_the_file() {
    // A TOML syntax error: the message carries the file and the line.
    let dir = shipped_catalog_copy();
    let adapter = dir.path().join("adapters/police/adapter.toml");
    let text = std::fs::read_to_string(&adapter).unwrap();
    std::fs::write(
        &adapter,
        text.replacen("timeout_ms = 5000", "timeout_ms = = 5000", 1),
    )
    .unwrap();
    let error = load_error(&dir);
    assert!(error.contains("police/adapter.toml"), "{error}");
    assert!(error.contains("line"), "{error}");

    // A mapping that no longer matches its fixtures: the fixture is named.
    let dir = shipped_catalog_copy();
    let adapter = dir.path().join("adapters/justice/adapter.toml");
    let text = std::fs::read_to_string(&adapter).unwrap();
    std::fs::write(
        &adapter,
        text.replacen("court = \"Court\"", "court = \"CourtName\"", 1),
    )
    .unwrap();
    let error = load_error(&dir);
    assert!(
        error.contains("fixtures/justice.court-decisions/"),
        "{error}"
    );

    // A missing contract.
    let dir = shipped_catalog_copy();
    std::fs::remove_file(
        dir.path()
            .join("contracts/services/health.disability/response.schema.json"),
    )
    .unwrap();
    let error = load_error(&dir);
    assert!(
        error.contains("health.disability/response.schema.json"),
        "{error}"
    );

    // An unknown hub code in a fault map.
    let dir = shipped_catalog_copy();
    let adapter = dir.path().join("adapters/civil/adapter.toml");
    let text = std::fs::read_to_string(&adapter).unwrap();
    std::fs::write(
        &adapter,
        text.replacen("\"caller.subject_not_found\"", "\"caller.gone\"", 1),
    )
    .unwrap();
    let error = load_error(&dir);
    assert!(
        error.contains("civil/adapter.toml") && error.contains("caller.gone"),
        "{error}"
    );
}

#[tokio::test]
async fn composite_parts_past_the_deadline_time_out_and_still_end_in_the_log() {
    // Arrange: a 300 ms composite deadline and registries that take a second.
    let dir = shipped_catalog_copy();
    let composites = dir.path().join("adapters/composites.toml");
    let text = std::fs::read_to_string(&composites).unwrap();
    std::fs::write(
        &composites,
        text.replace("deadline_ms = 4000", "deadline_ms = 300"),
    )
    .unwrap();
    let app = spawn_app_with(SpawnOptions {
        catalog_dirs: Some((dir.path().join("adapters"), dir.path().join("contracts"))),
        behaviour: esocial_sim::Behaviour {
            delay: std::time::Duration::from_millis(1000),
            ..Default::default()
        },
        ..SpawnOptions::default()
    })
    .await;

    // Act
    let started = std::time::Instant::now();
    let response = app.post_exchange(&app.request_for("profile.social")).await;

    // Assert: the caller gets an answer at the deadline, every part timed out ...
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    let body: Value = response.json().await.unwrap();
    for part in body["data"]["parts"].as_array().unwrap() {
        assert_eq!(part["status"], "timeout", "{part}");
        assert_eq!(part["error"]["code"], "registry.timeout");
    }
    // ... and each part's own exchange still reaches exactly one terminal state.
    let parent = body["exchangeId"].as_str().unwrap().parse().unwrap();
    let parts = app
        .catalog
        .composite("profile.social")
        .unwrap()
        .services
        .len();
    let mut closed = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let children = app.store.children_of(parent).await.unwrap();
        closed = 0;
        for child in &children {
            let record = app.store.exchange(*child).await.unwrap().unwrap();
            if record.status != esocial_store::ExchangeStatus::InProgress {
                closed += 1;
            }
        }
        if closed == parts {
            break;
        }
    }
    assert_eq!(closed, parts, "every part's exchange ends");
}
