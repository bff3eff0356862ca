//! MNotify: notifications from templates, their statuses, idempotency and failures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{eventually, hub_client, start_mnotify};

fn alert(external_id: &str) -> Value {
    json!({
        "externalId": external_id,
        "recipient": {"email": "manager@example.md"},
        "priority": "High",
        "subject": {"ro": "Alertă în cazul {{caseId}}", "ru": "Оповещение по делу {{caseId}}"},
        "body": {"ro": "Un eveniment nou privește cazul. Deschideți {{caseLink}}."},
        "shortBody": {"ro": "Caz {{caseId}}: eveniment nou"},
        "variables": {"caseId": "CASE-42", "caseLink": "https://esocial.gov.md/cases/42"}
    })
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status_of(client: &reqwest::Client, base: &str, id: &str) -> String {
    let response = client
        .get(format!("{base}/api/Notification/{id}"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_notification_is_rendered_and_moves_to_delivered_then_read() {
    // Steps long enough for a request to land inside one.
    let (base, mnotify) = start_mnotify(Duration::from_millis(250));
    let client = hub_client();

    let (status, accepted) = post(&client, &base, "/api/Notification", &alert("alert-1")).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    let early_read = post(
        &client,
        &base,
        &format!("/api/Notification/{id}/read"),
        &json!({}),
    )
    .await;
    let mut seen = vec![status_of(&client, &base, &id).await];
    for _ in 0..1000 {
        if seen.last().unwrap() == "Delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = status_of(&client, &base, &id).await;
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    let (read_status, read) = post(
        &client,
        &base,
        &format!("/api/Notification/{id}/read"),
        &json!({}),
    )
    .await;

    assert_eq!(status, 201);
    assert_eq!(accepted["status"], "Pending");
    assert_eq!(early_read.0, 409);
    let order = ["Pending", "Resolving", "Sending", "Sent", "Delivered"];
    assert!(
        seen.iter().all(|status| order.contains(&status.as_str())),
        "{seen:?}"
    );
    assert!(seen.windows(2).all(|pair| {
        let position = |status: &String| order.iter().position(|known| known == status);
        position(&pair[0]) < position(&pair[1])
    }));
    assert_eq!((read_status, read["status"].as_str()), (200, Some("Read")));
    assert_eq!(status_of(&client, &base, &id).await, "Read");
    let delivered = mnotify.notifications();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["subject"]["ro"], "Alertă în cazul CASE-42");
    assert_eq!(delivered[0]["subject"]["ru"], "Оповещение по делу CASE-42");
    assert_eq!(
        delivered[0]["body"]["ro"],
        "Un eveniment nou privește cazul. Deschideți https://esocial.gov.md/cases/42."
    );
    assert_eq!(
        delivered[0]["shortBody"]["ro"],
        "Caz CASE-42: eveniment nou"
    );
}

#[tokio::test]
async fn the_same_external_id_gets_the_same_notification() {
    let (base, mnotify) = start_mnotify(Duration::from_millis(50));
    let client = hub_client();
    let before = std::time::Instant::now();

    let (first_status, first) = post(&client, &base, "/api/Notification", &alert("alert-7")).await;
    let (again_status, again) = post(&client, &base, "/api/Notification", &alert("alert-7")).await;

    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(mnotify.len(), 1);
    let arrivals = mnotify.arrivals();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0].0, "alert-7");
    assert!(before <= arrivals[0].1, "taken when it first came");
}

#[tokio::test]
async fn a_notification_without_romanian_or_a_variable_or_with_an_idnp_is_refused() {
    let (base, mnotify) = start_mnotify(Duration::from_millis(50));
    let client = hub_client();
    let mut no_romanian = alert("a");
    no_romanian["subject"] = json!({"ru": "Оповещение"});
    let mut missing_variable = alert("b");
    missing_variable["body"]["ro"] = json!("Copilul {{childName}} nu mai merge la școală.");
    let mut idnp_in_variable = alert("c");
    idnp_in_variable["variables"]["caseId"] = json!("2000000000004");
    let mut idnp_in_text = alert("d");
    idnp_in_text["body"]["en"] = json!("Person 2000000000004 died.");
    let mut bad_priority = alert("e");
    bad_priority["priority"] = json!("Urgent");

    let refusals = [
        (no_romanian, "`subject.ro`"),
        (missing_variable, "placeholder `{{childName}}` in `body.ro`"),
        (
            idnp_in_variable,
            "personal data in clear: variable `caseId`",
        ),
        (idnp_in_text, "personal data in clear: `body.en`"),
        (bad_priority, "`priority`"),
    ];
    for (request, named) in refusals {
        let (status, problem) = post(&client, &base, "/api/Notification", &request).await;
        assert_eq!(status, 422, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{detail}");
        assert!(!detail.contains("2000000000004"), "{detail}");
    }
    assert!(mnotify.is_empty());
}

#[tokio::test]
async fn while_down_or_failing_nothing_is_taken() {
    let (base, mnotify) = start_mnotify(Duration::from_millis(50));
    let client = hub_client();

    mnotify.set_down(true);
    let (down, _) = post(&client, &base, "/api/Notification", &alert("x")).await;
    mnotify.set_down(false);
    mnotify.fail_next(2);
    let (first_failure, _) = post(&client, &base, "/api/Notification", &alert("x")).await;
    let (second_failure, _) = post(&client, &base, "/api/Notification", &alert("x")).await;
    let (taken, _) = post(&client, &base, "/api/Notification", &alert("x")).await;

    assert_eq!(down, 503);
    assert_eq!((first_failure, second_failure), (500, 500));
    assert_eq!(taken, 201);
    eventually("one notification", || mnotify.len() == 1).await;
}
