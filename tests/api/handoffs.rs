//! Referrals and transfers between agencies: the signed document reaches the receiver's
//! endpoint even after it was down, the hub keeps only the envelope and the states, each step is
//! taken once and told to the other side, and a hand-off past its deadline is escalated once.

use std::time::{Duration, SystemTime};

use esocial_hub::demo::{DEMO_CLIENT, DEMO_UNGRANTED_CLIENT};
use esocial_hub::handoffs::{HandoffSettings, PartyKind, PartySettings};
use esocial_sim::module::{ModuleConfig, ModuleHandle, start_module};
use esocial_wire::crypto::jws::{self, JwsSigner};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, registry_holder};
use serde_json::{Value, json};

use crate::helpers::{
    SpawnOptions, TestApp, assert_matches_openapi, assert_problem_of, client_with, shared_pki,
    spawn_app_with,
};

const SENDER: &str = "DASPF-CAHUL";
const RECEIVER: &str = "DASPF-UNGHENI";
const PROVIDER: &str = "CAP-CAHUL";
const TRANSFERS: (&str, &str) = ("/api/v1/transfers", "post");
const REFERRALS: (&str, &str) = ("/api/v1/referrals", "post");
const DECISION: (&str, &str) = ("/api/v1/handoffs/{handoffId}/decision", "post");

/// An agency's or provider's endpoint: the module stand-in, which verifies and records the
/// signed CloudEvents it is sent.
fn endpoint(pki: &PkiLayout) -> (u16, ModuleHandle) {
    let holder = registry_holder("agencies");
    let running = start_module(ModuleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: pki.cert(&holder),
        tls_key: pki.key(&holder),
        client_ca: pki.ca_cert(),
    })
    .expect("the endpoint starts");
    tokio::spawn(running.server);
    (running.port, running.handle)
}

struct World {
    app: TestApp,
    sender: ModuleHandle,
    receiver: ModuleHandle,
}

async fn world() -> World {
    let pki = shared_pki(&["agencies".to_string()]);
    let (sender_port, sender) = endpoint(&pki);
    let (receiver_port, receiver) = endpoint(&pki);
    let party = |code: &str, kind, client: String, port: u16| PartySettings {
        code: code.into(),
        name: format!("{code} (test)"),
        kind,
        client,
        url: format!("https://127.0.0.1:{port}/events"),
    };
    let app = spawn_app_with(SpawnOptions {
        handoffs: Some(HandoffSettings {
            parties: vec![
                party(SENDER, PartyKind::Agency, DEMO_CLIENT.into(), sender_port),
                party(
                    RECEIVER,
                    PartyKind::Agency,
                    DEMO_UNGRANTED_CLIENT.into(),
                    receiver_port,
                ),
                party(
                    PROVIDER,
                    PartyKind::Provider,
                    "agency-clinic".into(),
                    receiver_port,
                ),
            ],
            respond_within_days: 10,
        }),
        ..SpawnOptions::default()
    })
    .await;
    World {
        app,
        sender,
        receiver,
    }
}

/// The file as the sender's system sends it: sealed for the receiver (here opaque bytes) and
/// signed with the sender's certificate.
fn document(pki: &PkiLayout, holder: &str) -> String {
    let signer = JwsSigner::from_pem(
        &std::fs::read(pki.key(holder)).unwrap(),
        &std::fs::read(pki.cert(holder)).unwrap(),
    )
    .unwrap();
    jws::sign_compact(
        br#"{"sealedFor":"DASPF-UNGHENI","ciphertext":"q83vEjRWeJA="}"#,
        &signer,
        SystemTime::now(),
        Duration::from_secs(3600),
    )
    .unwrap()
}

fn request(app: &TestApp, to: &str, document: &str) -> Value {
    json!({
        "to": to,
        "caseId": "CASE-2026-0042",
        "subject": {"idnp": app.population.sample_subject().idnp.expose()},
        "purpose": {
            "legalBasis": "Legea nr. 140/2013, art. 7",
            "reason": "Familia s-a mutat în raionul Ungheni"
        },
        "document": document,
    })
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{}{path}", app.address))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request reaches the hub")
}

async fn status(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/handoffs/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn wait_for_state(app: &TestApp, id: &str, state: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = status(app, id).await;
        if last["state"] == state {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hand-off never reached `{state}`: {last}");
}

async fn wait_for_events(endpoint: &ModuleHandle, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        if endpoint.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    endpoint.events()
}

#[tokio::test]
async fn a_transfer_reaches_a_receiver_that_was_down_and_is_decided_once() {
    let World {
        app,
        sender,
        receiver,
    } = world().await;
    let receiver_client = client_with(&app.pki, &client_holder(DEMO_UNGRANTED_CLIENT));
    receiver.set_down(true);
    let signed = document(&app.pki, &client_holder(DEMO_CLIENT));
    let body = request(&app, RECEIVER, &signed);

    let response = post(&app, &app.client, "/api/v1/transfers", "t-1", &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_matches_openapi("/api/v1/transfers", "post", 201, &created);
    assert_eq!(created["state"], "sent");
    assert_eq!(created["documentHeld"], true);
    let id = created["id"].as_str().unwrap().to_string();

    // A retry with the same key is the same transfer; the key with another body is refused.
    let again = post(&app, &app.client, "/api/v1/transfers", "t-1", &body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["id"].as_str(), again["repeated"].as_bool()),
        (Some(id.as_str()), Some(true))
    );
    let mut other = body.clone();
    other["caseId"] = json!("CASE-2026-0043");
    let reused = post(&app, &app.client, "/api/v1/transfers", "t-1", &other).await;
    assert_problem_of(reused, 409, "caller.idempotency_key_reused", TRANSFERS).await;

    // The receiver cannot decide what it does not have.
    let early = post(
        &app,
        &receiver_client,
        &format!("/api/v1/handoffs/{id}/decision"),
        "-",
        &json!({"decision": "accepted"}),
    )
    .await;
    assert_problem_of(early, 409, "caller.not_received", DECISION).await;

    // While the receiver is down the transfer waits; once it is up, the document arrives once.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(status(&app, &id).await["state"], "sent");
    assert!(receiver.is_empty());
    receiver.set_down(false);
    let received = wait_for_state(&app, &id, "received").await;
    assert_eq!(
        received["documentHeld"], false,
        "the hub no longer holds the document"
    );
    let delivered = receiver.events();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["type"], "Md.Esocial.Hub.Transfer.Sent");
    assert_eq!(delivered[0]["data"]["document"], signed.as_str());
    assert_eq!(delivered[0]["data"]["handoffId"], id.as_str());
    let told = wait_for_events(&sender, 1).await;
    assert_eq!(told[0]["type"], "Md.Esocial.Hub.Transfer.Received");
    assert!(
        told[0]["data"].get("document").is_none(),
        "notices carry no document"
    );

    // Only the receiver decides, once.
    let by_sender = post(
        &app,
        &app.client,
        &format!("/api/v1/handoffs/{id}/decision"),
        "-",
        &json!({"decision": "accepted"}),
    )
    .await;
    assert_problem_of(by_sender, 403, "caller.not_the_receiver", DECISION).await;
    for _ in 0..2 {
        let accepted = post(
            &app,
            &receiver_client,
            &format!("/api/v1/handoffs/{id}/decision"),
            "-",
            &json!({"decision": "accepted"}),
        )
        .await;
        assert_eq!(accepted.status(), 200);
        assert_eq!(accepted.json::<Value>().await.unwrap()["state"], "accepted");
    }
    let declined = post(
        &app,
        &receiver_client,
        &format!("/api/v1/handoffs/{id}/decision"),
        "-",
        &json!({"decision": "declined", "reason": "Capacitate insuficientă"}),
    )
    .await;
    assert_problem_of(declined, 409, "caller.already_decided", DECISION).await;
    let told = wait_for_events(&sender, 2).await;
    assert_eq!(told.len(), 2, "one notice per step: {told:?}");
    assert_eq!(told[1]["type"], "Md.Esocial.Hub.Transfer.Accepted");

    // Every step is in the audit log.
    let kinds: Vec<String> = app
        .store
        .pending_audit_entries(1_000)
        .await
        .unwrap()
        .into_iter()
        .chain(
            app.store
                .audit_entries(0, 1_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.row),
        )
        .filter(|row| row.kind.starts_with("handoff."))
        .map(|row| row.kind)
        .collect();
    for step in ["handoff.sent", "handoff.received", "handoff.accepted"] {
        assert_eq!(
            kinds.iter().filter(|k| *k == step).count(),
            1,
            "{step}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn a_referral_past_its_deadline_is_escalated_once_to_both_sides() {
    let World {
        app,
        sender,
        receiver,
    } = world().await;
    let mut body = request(
        &app,
        PROVIDER,
        &document(&app.pki, &client_holder(DEMO_CLIENT)),
    );
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    body["respondBy"] = json!(esocial_store::timestamp(deadline));
    let response = post(&app, &app.client, "/api/v1/referrals", "r-1", &body).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_state(&app, &id, "received").await;
    let mut escalated = status(&app, &id).await;
    for _ in 0..100 {
        if !escalated["escalatedAt"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        escalated = status(&app, &id).await;
    }
    assert!(!escalated["escalatedAt"].is_null(), "{escalated}");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let to_sender = wait_for_events(&sender, 2).await;
    let to_receiver = wait_for_events(&receiver, 2).await;
    let escalations = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["type"] == "Md.Esocial.Hub.Referral.Escalated")
            .count()
    };
    assert_eq!(escalations(&to_sender), 1, "{to_sender:?}");
    assert_eq!(escalations(&to_receiver), 1, "{to_receiver:?}");
}

#[tokio::test]
async fn hand_offs_are_refused_naming_the_field() {
    let World { app, .. } = world().await;
    let signed = document(&app.pki, &client_holder(DEMO_CLIENT));

    // A referral goes to a service provider, a transfer to another agency.
    let response = post(
        &app,
        &app.client,
        "/api/v1/referrals",
        "x-1",
        &request(&app, RECEIVER, &signed),
    )
    .await;
    let problem = assert_problem_of(response, 422, "caller.invalid_request", REFERRALS).await;
    assert!(
        problem["detail"].as_str().unwrap().starts_with("`to`"),
        "{problem}"
    );

    // A document signed by someone else than the sender.
    let forged = document(&app.pki, &client_holder(DEMO_UNGRANTED_CLIENT));
    let response = post(
        &app,
        &app.client,
        "/api/v1/transfers",
        "x-2",
        &request(&app, RECEIVER, &forged),
    )
    .await;
    assert_problem_of(response, 422, "caller.invalid_signature", TRANSFERS).await;

    // A bad IDNP is named, never repeated.
    let mut body = request(&app, RECEIVER, &signed);
    body["subject"]["idnp"] = json!("2000000000005");
    let response = post(&app, &app.client, "/api/v1/transfers", "x-3", &body).await;
    let problem = assert_problem_of(response, 422, "caller.invalid_request", TRANSFERS).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("`subject.idnp`")
    );
    assert!(!problem.to_string().contains("2000000000005"));

    // Without an Idempotency-Key, nothing; from a client that is no party, nothing.
    let response = app
        .client
        .post(format!("{}/api/v1/transfers", app.address))
        .json(&request(&app, RECEIVER, &signed))
        .send()
        .await
        .unwrap();
    assert_problem_of(response, 400, "caller.missing_idempotency_key", TRANSFERS).await;
    let stranger = client_with(&app.pki, &client_holder("agency-police"));
    let response = post(
        &app,
        &stranger,
        "/api/v1/transfers",
        "x-4",
        &request(&app, RECEIVER, &signed),
    )
    .await;
    assert_problem_of(response, 403, "caller.not_a_party", TRANSFERS).await;
}
