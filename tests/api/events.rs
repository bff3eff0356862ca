//! The events flow over HTTP: registries push CloudEvents, the hub checks them, takes each once,
//! resolves the subject, asks for open cases and records one alert per case and channel;
//! invalid events and producers are refused, an unknown subject waits for review, and the
//! events of one person are handled in order.

use std::path::Path;
use std::time::Duration;

use esocial_hub::demo::DEMO_CLIENT;
use esocial_hub::events::{EventsSettings, ModuleSettings, ProducerSettings};
use esocial_sim::population::{Population, REFERENCE_DATE, SyntheticPerson};
use esocial_wire::crypto::pki::registry_holder;
use esocial_wire::mconnect::cloudevent::CloudEvent;
use serde_json::{Value, json};

use crate::helpers::{
    SpawnOptions, TestApp, assert_matches_openapi, assert_problem_of, client_with, spawn_app_with,
};

/// A port nothing listens on: deliveries to it wait and are tried again.
const NOWHERE: &str = "https://127.0.0.1:9";

pub fn events_settings(mnotify_url: &str, module_url: &str) -> EventsSettings {
    EventsSettings {
        subscriptions: Path::new(env!("CARGO_MANIFEST_DIR")).join("subscriptions"),
        client: DEMO_CLIENT.into(),
        calling_user: "2000000000004".into(),
        case_link: "https://esocial.gov.md/cazuri/{caseId}".into(),
        producers: vec![
            ProducerSettings {
                client: registry_holder("police"),
                event_types: vec!["Gov.Police.ProtectionOrder.Issued".into()],
            },
            ProducerSettings {
                client: registry_holder("civil"),
                event_types: vec!["Gov.Civil.Person.Died".into()],
            },
        ],
        consumer_url: None,
        mnotify_url: Some(mnotify_url.into()),
        modules: vec![ModuleSettings {
            name: "case-management".into(),
            url: module_url.into(),
        }],
        max_attempts: 3,
        lease_ms: 5_000,
        timeout_ms: 2_000,
    }
}

async fn spawn_with_events(down: Vec<&'static str>) -> TestApp {
    spawn_app_with(SpawnOptions {
        events: Some(events_settings(NOWHERE, NOWHERE)),
        down,
        registry_timeout_ms: Some(2_000),
        ..SpawnOptions::default()
    })
    .await
}

/// A parent who is the aggressor of a protection order in force, and their minor children.
pub fn aggressor_with_children(
    population: &Population,
) -> (&SyntheticPerson, Vec<&SyntheticPerson>) {
    population
        .protection_orders()
        .iter()
        .filter(|order| order.is_active_on(REFERENCE_DATE))
        .filter_map(|order| {
            let aggressor = population.person(order.aggressor)?;
            let children: Vec<_> = aggressor
                .children
                .iter()
                .filter_map(|child| population.person(*child))
                .filter(|child| child.is_minor() && !child.deceased)
                .collect();
            (!children.is_empty()).then_some((aggressor, children))
        })
        .next()
        .expect("the synthetic population has a violent household with children")
}

/// Registers `person` in the master index as a police record.
pub async fn register_in_index(app: &TestApp, person: &SyntheticPerson) {
    let response = app
        .post_json(
            "/api/v1/persons/records",
            &json!({"source": "police", "record": {
                "localId": format!("P-{}", person.idnp.expose()),
                "idnp": person.idnp.expose(),
                "firstName": person.first_name,
                "lastName": person.last_name,
                "birthDate": person.birth_date_text(),
            }}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

pub fn order_event(id: &str, aggressor: &SyntheticPerson, protected: &[&SyntheticPerson]) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "urn:gov:md:igp:police",
        "type": "Gov.Police.ProtectionOrder.Issued",
        "partitionkey": format!("idnp:{}", aggressor.idnp.expose()),
        "time": "2026-11-30T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "idnp": aggressor.idnp.expose(),
            "orderId": format!("OP-{id}"),
            "kind": "emergency",
            "issuedOn": "2026-11-30",
            "protectedPersons": protected.iter().map(|p| p.idnp.expose()).collect::<Vec<_>>(),
        }
    })
}

const PRODUCE: (&str, &str) = ("/ce/produce/event", "post");
const PRODUCE_BATCH: (&str, &str) = ("/ce/produce/events", "post");
const LOOKUP: (&str, &str) = ("/api/v1/events", "get");
const REPLAY: (&str, &str) = ("/api/v1/events/{eventId}/replay", "post");

pub async fn push(app: &TestApp, producer: &str, event: &Value) -> reqwest::Response {
    client_with(&app.pki, &registry_holder(producer))
        .post(format!("{}/ce/produce/event", app.address))
        .header("Content-Type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .expect("request reaches the hub")
}

/// Registers the parent of [`aggressor_with_children`] in the master index and pushes a
/// protection order against them as the police, with CloudEvent id `id`.
async fn push_order(app: &TestApp, id: &str) {
    let (aggressor, _) = aggressor_with_children(&app.population);
    register_in_index(app, aggressor).await;
    let response = push(app, "police", &order_event(id, aggressor, &[])).await;
    assert_eq!(response.status(), 200);
}

/// Where the event stands, once it is in `state` (waits up to 15 s).
pub async fn event_in_state(app: &TestApp, source: &str, id: &str, state: &str) -> Value {
    let path = format!("/api/v1/events?source={source}&eventId={id}");
    let mut last = Value::Null;
    for _ in 0..150 {
        let response = app.get(&path).await;
        if response.status() == 200 {
            last = response.json().await.unwrap();
            if last["state"] == state {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("event {id} never reached `{state}`: {last}");
}

/// The audit log's entries of `kind`, once it has any (waits up to 5 s for their placing).
async fn audit_entries(app: &TestApp, kind: &str) -> Vec<esocial_store::AuditEntryRow> {
    for _ in 0..50 {
        let entries: Vec<_> = app
            .store
            .audit_entries(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.row)
            .filter(|row| row.kind == kind)
            .collect();
        if !entries.is_empty() {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no audit entry of kind {kind}");
}

#[tokio::test]
async fn a_protection_order_against_a_parent_alerts_the_childrens_case_managers_once() {
    let app = spawn_with_events(vec![]).await;
    let (aggressor, children) = aggressor_with_children(&app.population);
    register_in_index(&app, aggressor).await;
    let event = order_event("po-1", aggressor, &[]);

    let response = push(&app, "police", &event).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"taken": 1, "alreadyTaken": 0})
    );
    let handled = event_in_state(&app, "urn:gov:md:igp:police", "po-1", "handled").await;
    assert_matches_openapi("/api/v1/events", "get", 200, &handled);
    let deliveries = handled["deliveries"].as_array().unwrap();
    assert!(
        !deliveries.is_empty(),
        "a child of the household has a child-protection case: {handled}"
    );
    for channel in ["mnotify", "webhook"] {
        assert!(
            deliveries.iter().any(|d| d["channel"] == channel),
            "{handled}"
        );
    }
    assert!(
        deliveries
            .iter()
            .all(|d| d["purpose"] == "protection-order-issued")
    );
    assert!(deliveries.iter().all(|d| d["priority"] == "High"));
    // Exactly the children's child-protection and domestic-violence cases are alerted, each
    // once per channel.
    let mut expected = Vec::new();
    for child in &children {
        let mut request = app.valid_request();
        request["service"] = json!("cases.active-cases");
        request["subject"]["idnp"] = json!(child.idnp.expose());
        let answer: Value = app.post_exchange(&request).await.json().await.unwrap();
        for case in answer["data"]["cases"].as_array().unwrap() {
            if ["child_protection", "domestic_violence"].contains(&case["type"].as_str().unwrap()) {
                expected.push(case["caseId"].as_str().unwrap().to_string());
            }
        }
    }
    expected.sort();
    for channel in ["mnotify", "webhook"] {
        let mut alerted: Vec<String> = deliveries
            .iter()
            .filter(|d| d["channel"] == channel)
            .map(|d| d["caseId"].as_str().unwrap().to_string())
            .collect();
        alerted.sort();
        assert_eq!(alerted, expected, "{channel}");
    }

    // The same event again: taken once, one set of alerts.
    let again = push(&app, "police", &event).await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"taken": 0, "alreadyTaken": 1})
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = event_in_state(&app, "urn:gov:md:igp:police", "po-1", "handled").await;
    assert_eq!(
        after["deliveries"].as_array().unwrap().len(),
        deliveries.len()
    );
    assert_eq!(after["id"], handled["id"]);

    // Handling touched personal data: the audit log has its entry.
    let entries = audit_entries(&app, "event.handled").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, "completed");
    assert!(entries[0].subject_digest.is_some());
    assert!(entries[0].person_id.is_some());
}

#[tokio::test]
async fn invalid_events_and_producers_are_refused_with_their_reason() {
    let app = spawn_with_events(vec![]).await;
    let (aggressor, _) = aggressor_with_children(&app.population);
    let good = order_event("po-2", aggressor, &[]);

    let mut missing = good.clone();
    missing["data"].as_object_mut().unwrap().remove("issuedOn");
    let body = assert_problem_of(
        push(&app, "police", &missing).await,
        422,
        "caller.invalid_event",
        PRODUCE,
    )
    .await;
    assert_eq!(body["violations"][0]["pointer"], "/data", "{body}");

    let mut other_person = good.clone();
    other_person["data"]["idnp"] = json!("2000000000004");
    let body = assert_problem_of(
        push(&app, "police", &other_person).await,
        422,
        "caller.invalid_event",
        PRODUCE,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("partitionkey"),
        "{body}"
    );
    assert!(
        !body.to_string().contains(aggressor.idnp.expose()),
        "no IDNP in a refusal: {body}"
    );

    let mut bad_key = good.clone();
    bad_key["partitionkey"] = json!("idnp:2000000000005");
    assert_problem_of(
        push(&app, "police", &bad_key).await,
        422,
        "caller.invalid_event",
        PRODUCE,
    )
    .await;

    // A producer may push only its own types; a client that is no producer nothing at all.
    assert_problem_of(
        push(&app, "civil", &good).await,
        403,
        "caller.event_type_not_allowed",
        PRODUCE,
    )
    .await;
    let response = app
        .client
        .post(format!("{}/ce/produce/event", app.address))
        .header("Content-Type", "application/cloudevents+json")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_problem_of(response, 403, "caller.not_a_producer", PRODUCE).await;

    // Wrong media type, and a batch with one bad event: nothing of it is taken.
    let response = client_with(&app.pki, &registry_holder("police"))
        .post(format!("{}/ce/produce/event", app.address))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_problem_of(response, 415, "caller.unsupported_media_type", PRODUCE).await;
    let batch = json!([order_event("po-3", aggressor, &[]), missing]);
    let response = client_with(&app.pki, &registry_holder("police"))
        .post(format!("{}/ce/produce/events", app.address))
        .header("Content-Type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    let body = assert_problem_of(response, 422, "caller.invalid_event", PRODUCE_BATCH).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("event 1 of the batch"),
        "{body}"
    );
    let lookup = app
        .get("/api/v1/events?source=urn:gov:md:igp:police&eventId=po-3")
        .await;
    assert_problem_of(lookup, 404, "caller.no_such_event", LOOKUP).await;
}

#[tokio::test]
async fn an_event_about_an_unknown_person_waits_for_review_and_is_handled_once_resolved() {
    let app = spawn_with_events(vec![]).await;
    let (aggressor, _) = aggressor_with_children(&app.population);
    let response = push(&app, "police", &order_event("po-4", aggressor, &[])).await;
    assert_eq!(response.status(), 200);
    let review = event_in_state(&app, "urn:gov:md:igp:police", "po-4", "review").await;
    assert_eq!(review["reason"], "subject.unresolved");
    let listed: Value = app
        .get("/api/v1/events/reviews")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["reviews"][0]["id"], review["id"]);

    // The person is registered; an operator replays the event.
    register_in_index(&app, aggressor).await;
    let id = review["id"].as_str().unwrap();
    let response = app
        .post_json(&format!("/api/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    event_in_state(&app, "urn:gov:md:igp:police", "po-4", "handled").await;
    let response = app
        .post_json(&format!("/api/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_problem_of(response, 404, "caller.not_replayable", REPLAY).await;
}

#[tokio::test]
async fn a_persons_later_event_waits_while_an_earlier_one_cannot_be_handled() {
    // The case-management module is down: the first event waits to be tried again, and the
    // second event about the same person is not handled before it.
    let app = spawn_with_events(vec!["cases"]).await;
    push_order(&app, "po-5").await;
    let waiting = event_in_state(&app, "urn:gov:md:igp:police", "po-5", "waiting").await;
    assert_eq!(waiting["reason"], "registry.unavailable");
    push_order(&app, "po-6").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let later = event_in_state(&app, "urn:gov:md:igp:police", "po-6", "pending").await;
    assert_eq!(
        later["attempts"], 0,
        "the later event was not tried: {later}"
    );

    // After its last attempt the first event is dead, and the second goes on.
    let dead = event_in_state(&app, "urn:gov:md:igp:police", "po-5", "dead").await;
    assert!(
        dead["reason"]
            .as_str()
            .unwrap()
            .contains("after 3 attempts"),
        "{dead}"
    );
    event_in_state(&app, "urn:gov:md:igp:police", "po-6", "waiting").await;
    let listed: Value = app.get("/api/v1/events/dead").await.json().await.unwrap();
    assert_matches_openapi("/api/v1/events/dead", "get", 200, &listed);
    assert_eq!(listed["events"][0]["id"], dead["id"]);
}

#[tokio::test]
async fn an_event_an_agency_reports_alerts_the_case_managers_of_the_persons_open_cases() {
    use crate::agency::{Agency, CHILD, in_care, texts, verified_answer};
    let app = spawn_with_events(vec![]).await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let fields = format!(
        "<es:IDNP>{CHILD}</es:IDNP><es:EventType>police.domestic-violence-callout</es:EventType>\
<es:OccurredAt>2026-11-30T22:10:00Z</es:OccurredAt><es:Severity>high</es:Severity>\
<es:Summary>Apel 112</es:Summary>"
    );
    let request = police.sign(
        &police.unsigned(&police.context(), "NotifyCaseRelevantEvent", &fields),
        std::time::SystemTime::now(),
    );
    let (status, answer) = police.post_soap(&app, request.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &request, &answer);
    let event_id = texts(&answer, "EventId").remove(0);

    let handled = event_in_state(
        &app,
        "urn:md:gov:agency:agency-police",
        &event_id,
        "handled",
    )
    .await;
    let deliveries = handled["deliveries"].as_array().unwrap();
    // The child has a child-protection and a domestic-violence case: each case manager is
    // told through MNotify, and the case-management module through its webhook.
    assert_eq!(deliveries.len(), 4, "{handled}");
    assert!(
        deliveries
            .iter()
            .all(|d| d["purpose"] == "agency-case-event-high" && d["priority"] == "High")
    );
}

#[tokio::test]
async fn events_are_taken_once_handled_in_order_and_alerted_on_postgres() {
    let Some(url) = crate::postgres::fresh_postgres_database().await else {
        return;
    };
    let app = spawn_app_with(SpawnOptions {
        events: Some(events_settings(NOWHERE, NOWHERE)),
        store_url: Some(url),
        ..SpawnOptions::default()
    })
    .await;
    assert_eq!(app.store.backend(), esocial_store::Backend::Postgres);
    let (aggressor, _) = aggressor_with_children(&app.population);
    register_in_index(&app, aggressor).await;
    let batch = json!([
        order_event("pg-1", aggressor, &[]),
        order_event("pg-2", aggressor, &[])
    ]);
    let response = client_with(&app.pki, &registry_holder("police"))
        .post(format!("{}/ce/produce/events", app.address))
        .header("Content-Type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"taken": 2, "alreadyTaken": 0})
    );
    let first = event_in_state(&app, "urn:gov:md:igp:police", "pg-1", "handled").await;
    let second = event_in_state(&app, "urn:gov:md:igp:police", "pg-2", "handled").await;
    assert!(
        first["endedAt"].as_i64() <= second["endedAt"].as_i64(),
        "in order"
    );
    assert!(!first["deliveries"].as_array().unwrap().is_empty());
    let again = push(&app, "police", &order_event("pg-1", aggressor, &[])).await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"taken": 0, "alreadyTaken": 1})
    );
}

/// Starts the MConnect Events simulator, closing every consumer socket after `lifetime`.
fn start_mconnect_events(lifetime: Duration) -> esocial_sim::RunningEvents {
    let holder = registry_holder("events");
    let pki = crate::helpers::shared_pki(&["events".to_string()]);
    let mut config = esocial_sim::EventsConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        pki.cert(&holder),
        pki.key(&holder),
        pki.ca_cert(),
        crate::helpers::contracts_dir().join("events"),
    );
    config.socket_lifetime = lifetime;
    config.max_in_flight = 8;
    esocial_sim::start_events(config).expect("the MConnect Events simulator starts")
}

#[tokio::test]
async fn the_hub_reads_mconnect_events_resumes_after_dropped_sockets_and_alerts_once() {
    // MConnect Events closes every socket after 300 ms, mid-stream.
    let mconnect = start_mconnect_events(Duration::from_millis(300));
    let log = mconnect.log.clone();
    let port = mconnect.port;
    tokio::spawn(mconnect.server);
    let mut settings = events_settings(NOWHERE, NOWHERE);
    settings.consumer_url = Some(format!("wss://127.0.0.1:{port}/ce/consume/ws"));
    let app = spawn_app_with(SpawnOptions {
        events: Some(settings),
        ..SpawnOptions::default()
    })
    .await;
    let (aggressor, _) = aggressor_with_children(&app.population);
    register_in_index(&app, aggressor).await;

    let count = 30;
    for index in 0..count {
        let event =
            CloudEvent::from_value(order_event(&format!("ws-{index}"), aggressor, &[])).unwrap();
        log.publish(event);
        if index == count / 2 {
            log.close_all_sockets();
        }
    }
    // One event whose data names another person than its partition: refused, to the dead list.
    let mut wrong = order_event("ws-wrong", aggressor, &[]);
    wrong["data"]["idnp"] = json!("2000000000004");
    log.publish(CloudEvent::from_value(wrong).unwrap());

    let mut per_event = None;
    for index in 0..count {
        let handled = event_in_state(
            &app,
            "urn:gov:md:igp:police",
            &format!("ws-{index}"),
            "handled",
        )
        .await;
        let alerts = handled["deliveries"].as_array().unwrap().len();
        assert!(alerts > 0);
        assert_eq!(
            *per_event.get_or_insert(alerts),
            alerts,
            "the same alerts for each event"
        );
    }
    for _ in 0..100 {
        if log.confirmed("hub") == Some(count as u64 + 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        log.confirmed("hub"),
        Some(count as u64 + 1),
        "every offset confirmed"
    );
    let dead = log.dead();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1["id"], "ws-wrong");
    let states = app.store.event_states().await.unwrap();
    assert_eq!(
        states,
        [("handled".to_string(), count as i64)],
        "each event taken once"
    );
    let deliveries = app.store.delivery_states().await.unwrap();
    let total: i64 = deliveries.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total,
        (count * per_event.unwrap()) as i64,
        "no duplicate alert"
    );
}

/// The case-management module's webhook endpoint (the module stand-in).
fn start_module_stand_in(
    pki: &esocial_wire::crypto::pki::PkiLayout,
) -> esocial_sim::module::RunningModule {
    let holder = registry_holder("module");
    esocial_sim::module::start_module(esocial_sim::module::ModuleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: pki.cert(&holder),
        tls_key: pki.key(&holder),
        client_ca: pki.ca_cert(),
    })
    .expect("the module stand-in starts")
}

#[tokio::test]
async fn a_registry_event_reaches_mnotify_and_the_module_once_even_after_mnotify_was_down() {
    let pki = crate::helpers::shared_pki(&["mnotify".to_string(), "module".to_string()]);
    let mnotify_holder = registry_holder("mnotify");
    let mnotify = esocial_sim::mnotify::start_mnotify(esocial_sim::mnotify::MnotifyConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        pki.cert(&mnotify_holder),
        pki.key(&mnotify_holder),
        pki.ca_cert(),
    ))
    .unwrap();
    let module = start_module_stand_in(&pki);
    let (notifications, webhooks) = (mnotify.handle.clone(), module.handle.clone());
    let settings = events_settings(
        &format!("https://127.0.0.1:{}", mnotify.port),
        &format!("https://127.0.0.1:{}/events", module.port),
    );
    tokio::spawn(mnotify.server);
    tokio::spawn(module.server);
    notifications.set_down(true);
    let app = spawn_app_with(SpawnOptions {
        events: Some(settings),
        ..SpawnOptions::default()
    })
    .await;
    push_order(&app, "e2e-1").await;
    let (aggressor, children) = aggressor_with_children(&app.population);

    // The module has its signed alerts at once, one per case.
    let handled = event_in_state(&app, "urn:gov:md:igp:police", "e2e-1", "handled").await;
    let cases = handled["deliveries"].as_array().unwrap().len() / 2;
    for _ in 0..100 {
        if webhooks.len() >= cases {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alerts = webhooks.events();
    assert_eq!(alerts.len(), cases);
    for alert in &alerts {
        assert_eq!(alert["type"], "Md.Esocial.Hub.Alert.Raised");
        assert_eq!(alert["data"]["event"]["id"], "e2e-1");
        assert_eq!(alert["data"]["priority"], "High");
    }

    // MNotify is down: the notifications wait, then go once it is back, one per case.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(notifications.is_empty());
    notifications.set_down(false);
    for _ in 0..150 {
        if notifications.len() >= cases {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = notifications.notifications();
    assert_eq!(sent.len(), cases, "one notification per case: {sent:?}");
    let text = serde_json::to_string(&sent).unwrap();
    for person in std::iter::once(aggressor).chain(children.iter().copied()) {
        assert!(
            !text.contains(person.idnp.expose()),
            "no IDNP in a notification"
        );
        assert!(
            !text.contains(&person.first_name),
            "no name in a notification"
        );
    }
    for notification in &sent {
        assert_eq!(notification["priority"], "High");
        assert!(
            notification["body"]["ro"]
                .as_str()
                .unwrap()
                .contains("https://esocial.gov.md/cazuri/")
        );
        assert!(notification["recipient"]["email"].is_string());
    }
    let after = event_in_state(&app, "urn:gov:md:igp:police", "e2e-1", "handled").await;
    for delivery in after["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["state"], "sent", "{after}");
    }
    let remote: Vec<_> = after["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "mnotify")
        .map(|d| d["remoteId"].clone())
        .collect();
    assert!(
        remote.iter().all(Value::is_string),
        "MNotify's id kept: {remote:?}"
    );
}

#[tokio::test]
async fn a_webhook_the_module_never_took_is_dead_lettered_and_replayed_by_an_operator() {
    let pki = crate::helpers::shared_pki(&["module".to_string()]);
    let module = start_module_stand_in(&pki);
    let webhooks = module.handle.clone();
    let settings = events_settings(
        NOWHERE,
        &format!("https://127.0.0.1:{}/events", module.port),
    );
    tokio::spawn(module.server);
    webhooks.set_down(true);
    let app = spawn_app_with(SpawnOptions {
        events: Some(settings),
        ..SpawnOptions::default()
    })
    .await;
    push_order(&app, "dl-1").await;

    // Three attempts (1 s, then 2 s apart), then the webhooks are dead: every one of them (one
    // per case the order touches), so that none is still retrying when the module is back.
    let webhooks_in = |answer: &Value| {
        answer["deliveries"].as_array().map_or(0, |d| {
            d.iter().filter(|d| d["channel"] == "webhook").count()
        })
    };
    let mut dead = Value::Null;
    for _ in 0..150 {
        let event: Value = app
            .get("/api/v1/events?source=urn:gov:md:igp:police&eventId=dl-1")
            .await
            .json()
            .await
            .unwrap_or(Value::Null);
        dead = app.get("/api/v1/events/dead").await.json().await.unwrap();
        if webhooks_in(&dead) > 0 && webhooks_in(&dead) == webhooks_in(&event) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead_webhook = dead["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap_or_else(|| panic!("no dead webhook: {dead}"))
        .clone();
    assert_eq!(dead_webhook["attempts"], 3);
    assert!(
        dead_webhook["reason"]
            .as_str()
            .unwrap()
            .contains("after 3 attempts")
    );

    // The module is back; the operator replays the delivery, and it arrives once.
    webhooks.set_down(false);
    let id = dead_webhook["id"].as_str().unwrap();
    let replayed = app
        .post_json(
            &format!("/api/v1/events/deliveries/{id}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(replayed.status(), 202);
    for _ in 0..50 {
        if !webhooks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(webhooks.events().len(), 1);
    let again = app
        .post_json(
            &format!("/api/v1/events/deliveries/{id}/replay"),
            &json!({}),
        )
        .await;
    assert_problem_of(
        again,
        404,
        "caller.not_replayable",
        ("/api/v1/events/deliveries/{deliveryId}/replay", "post"),
    )
    .await;
}
