//! MConnect Events: producers, the consumer stream, and the hub's consumer client against it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esocial_sim::event_feed::population_events;
use esocial_sim::population::Population;
use esocial_wire::mconnect::cloudevent::{
    BATCH_MEDIA_TYPE, CloudEvent, EVENT_MEDIA_TYPE, MAX_REQUEST_BYTES,
};
use esocial_wire::mconnect::events::{DEAD_REASON_ATTRIBUTE, Taken};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::helpers::{EventsSim, HUB, eventually, hub_client, one_by_one};

const LONG: Duration = Duration::from_secs(600);

/// Events about the simulators' population (built once: it takes a while in a debug build).
fn feed(count: usize) -> Vec<CloudEvent> {
    static POPULATION: std::sync::LazyLock<Population> =
        std::sync::LazyLock::new(Population::default_population);
    population_events(&POPULATION, 11, count)
}

async fn post(
    sim: &EventsSim,
    path: &str,
    media_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = hub_client()
        .post(sim.url(path))
        .header("content-type", media_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What a handler saw: every offset, in the order handled.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<u64>>>);

impl Seen {
    fn offsets(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }

    fn record(&self, event: &CloudEvent) -> u64 {
        let offset = event.offset.expect("the stream adds offsets");
        self.0.lock().unwrap().push(offset);
        offset
    }

    /// How many times each offset was handled.
    fn counts(&self) -> BTreeMap<u64, usize> {
        let mut counts = BTreeMap::new();
        for offset in self.offsets() {
            *counts.entry(offset).or_default() += 1;
        }
        counts
    }
}

#[tokio::test]
async fn a_produced_event_is_appended_once_and_a_retry_gets_the_same_offset() {
    let sim = EventsSim::start(64, LONG);
    let events = feed(3);
    let body = events[0].to_value().to_string();

    let (status, first) = post(&sim, "/ce/produce/event", EVENT_MEDIA_TYPE, body.clone()).await;
    let (_, retry) = post(&sim, "/ce/produce/event", EVENT_MEDIA_TYPE, body).await;
    let batch = json!([
        events[1].to_value(),
        events[2].to_value(),
        events[0].to_value()
    ]);
    let (batch_status, offsets) = post(
        &sim,
        "/ce/produce/events",
        BATCH_MEDIA_TYPE,
        batch.to_string(),
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(first, json!({"offset": 1}));
    assert_eq!(retry, json!({"offset": 1}));
    assert_eq!(batch_status, 200);
    assert_eq!(offsets, json!({"offsets": [2, 3, 1]}));
    assert_eq!(sim.log.len(), 3);
}

#[tokio::test]
async fn a_batch_with_one_bad_event_is_refused_whole_naming_the_place_not_the_value() {
    let sim = EventsSim::start(64, LONG);
    let events = feed(2);
    let mut bad = events[1].to_value();
    let idnp = bad["data"]["idnp"].as_str().unwrap().to_string();
    bad["data"]["idnp"] = json!(format!("{idnp}0"));
    let batch = json!([events[0].to_value(), bad]).to_string();

    let (status, problem) = post(&sim, "/ce/produce/events", BATCH_MEDIA_TYPE, batch).await;

    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/1/data/idnp");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("event 1 of the batch")
    );
    assert!(!problem.to_string().contains(&idnp), "{problem}");
    assert!(sim.log.is_empty());
}

#[tokio::test]
async fn wrong_media_type_unknown_type_and_oversized_bodies_are_refused() {
    let sim = EventsSim::start(64, LONG);
    let event = feed(1).remove(0);
    let mut unknown = event.to_value();
    unknown["type"] = json!("Gov.Civil.Person.Born");
    let oversized = vec![b' '; MAX_REQUEST_BYTES + 1];

    let (media, _) = post(
        &sim,
        "/ce/produce/event",
        "application/json",
        event.to_value().to_string(),
    )
    .await;
    let (batch_media, _) = post(&sim, "/ce/produce/events", EVENT_MEDIA_TYPE, "[]").await;
    let (unknown_status, problem) = post(
        &sim,
        "/ce/produce/event",
        EVENT_MEDIA_TYPE,
        unknown.to_string(),
    )
    .await;
    let (too_large, _) = post(&sim, "/ce/produce/event", EVENT_MEDIA_TYPE, oversized).await;
    let (not_json, _) = post(&sim, "/ce/produce/event", EVENT_MEDIA_TYPE, "not json").await;

    assert_eq!(media, 415);
    assert_eq!(batch_media, 415);
    assert_eq!(unknown_status, 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("`type`"),
        "{problem}"
    );
    assert_eq!(too_large, 413);
    assert_eq!(not_json, 400);
    assert!(sim.log.is_empty());
}

#[tokio::test]
async fn a_consumer_must_offer_the_cloudevents_subprotocol() {
    let sim = EventsSim::start(64, LONG);
    let upgrade = |protocol: Option<&str>| {
        let mut request = hub_client()
            .get(sim.url("/ce/consume/ws"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(protocol) = protocol {
            request = request.header("sec-websocket-protocol", protocol);
        }
        request.send()
    };

    let without = upgrade(None).await.unwrap();
    let other = upgrade(Some("chat")).await.unwrap();
    let offered = upgrade(Some("chat, cloudevents.json")).await.unwrap();

    assert_eq!(without.status(), 400);
    assert_eq!(other.status(), 400);
    assert_eq!(offered.status(), 101);
    assert_eq!(
        offered.headers()["sec-websocket-protocol"],
        "cloudevents.json"
    );
}

#[tokio::test]
async fn published_events_are_consumed_in_order_and_confirmed() {
    let sim = EventsSim::start(8, LONG);
    let events = feed(120);
    for event in events.clone() {
        sim.log.publish(event);
    }
    let consumer = sim.consumer();
    let counters = consumer.counters();
    let (stop, shutdown) = watch::channel(false);
    let seen = Seen::default();
    let received: Arc<Mutex<Vec<CloudEvent>>> = Arc::default();
    let (handler_seen, handler_received) = (seen.clone(), received.clone());
    let running = tokio::spawn(consumer.run(
        one_by_one(move |event: CloudEvent| {
            handler_seen.record(&event);
            handler_received.lock().unwrap().push(event);
            async { Ok(Taken::Durably) }
        }),
        shutdown,
    ));

    eventually("every event confirmed", || {
        sim.log.confirmed(HUB) == Some(120)
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();

    assert_eq!(seen.offsets(), (1..=120).collect::<Vec<_>>());
    let received = received.lock().unwrap();
    for (sent, got) in events.iter().zip(received.iter()) {
        assert_eq!(got.id, sent.id);
        assert_eq!(got.data, sent.data);
    }
    assert_eq!(counters.confirmed(), 120);
    assert_eq!(counters.last_confirmed_offset(), 120);
    assert_eq!(counters.connections(), 1);
}

#[tokio::test]
async fn sockets_closed_mid_stream_lose_nothing_and_confirmations_never_go_back() {
    // Sockets live 300 ms and the test closes them all every 100 ms besides.
    let sim = EventsSim::start(16, Duration::from_millis(300));
    let consumer = sim.consumer();
    let counters = consumer.counters();
    let (stop, shutdown) = watch::channel(false);
    let seen = Seen::default();
    let handler_seen = seen.clone();
    let running = tokio::spawn(consumer.run(
        one_by_one(move |event: CloudEvent| {
            handler_seen.record(&event);
            async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(Taken::Durably)
            }
        }),
        shutdown,
    ));
    let log = sim.log.clone();
    let watcher = tokio::spawn(async move {
        let mut positions = Vec::new();
        for round in 0.. {
            positions.push(log.confirmed(HUB).unwrap_or(0));
            if positions.last() == Some(&600) {
                break;
            }
            if round % 5 == 0 {
                log.close_all_sockets();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        positions
    });

    for event in feed(600) {
        sim.log.publish(event);
        tokio::task::yield_now().await;
    }
    let positions = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .expect("every event confirmed within a minute")
        .unwrap();
    stop.send(true).unwrap();
    running.await.unwrap();

    assert!(
        positions.windows(2).all(|pair| pair[0] <= pair[1]),
        "{positions:?}"
    );
    let counts = seen.counts();
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (1..=600).collect::<Vec<_>>()
    );
    assert!(counters.connections() > 1, "the server closed sockets");
    assert_eq!(counters.last_confirmed_offset(), 600);
}

#[tokio::test]
async fn an_event_the_handler_fails_on_comes_again() {
    let sim = EventsSim::start(64, LONG);
    for event in feed(10) {
        sim.log.publish(event);
    }
    let consumer = sim.consumer();
    let counters = consumer.counters();
    let (stop, shutdown) = watch::channel(false);
    let seen = Seen::default();
    let handler_seen = seen.clone();
    let mut failures_left = 2;
    let running = tokio::spawn(consumer.run(
        one_by_one(move |event: CloudEvent| {
            let offset = handler_seen.record(&event);
            let fail = offset == 5 && failures_left > 0;
            if fail {
                failures_left -= 1;
            }
            async move {
                if fail {
                    anyhow::bail!("the store is down");
                }
                Ok(Taken::Durably)
            }
        }),
        shutdown,
    ));

    eventually("every event confirmed", || {
        sim.log.confirmed(HUB) == Some(10)
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();

    // A failed batch is not confirmed at all: the events with it come again too.
    let counts = seen.counts();
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<u64>>()
    );
    assert_eq!(counts[&5], 3, "failed twice, then taken");
    assert_eq!(counters.connections(), 3);
    assert_eq!(counters.confirmed(), 10);
}

#[tokio::test]
async fn a_refused_event_lands_in_the_dead_list_with_its_reason() {
    let sim = EventsSim::start(64, LONG);
    let events = feed(10);
    for event in events.clone() {
        sim.log.publish(event);
    }
    let consumer = sim.consumer();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(consumer.run(
        one_by_one(|event: CloudEvent| async move {
            if event.event_type == "Gov.Civil.Person.Died" {
                Ok(Taken::Refused("no subscription takes this type".into()))
            } else {
                Ok(Taken::Durably)
            }
        }),
        shutdown,
    ));

    eventually("every event answered", || {
        sim.log.confirmed(HUB) == Some(10)
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();

    let dead = sim.log.dead();
    let died: Vec<&CloudEvent> = events
        .iter()
        .filter(|event| event.event_type == "Gov.Civil.Person.Died")
        .collect();
    assert_eq!(dead.len(), died.len());
    for ((consumer, event), expected) in dead.iter().zip(died) {
        assert_eq!(consumer, HUB);
        assert_eq!(event["id"], expected.id.as_str());
        assert_eq!(
            event[DEAD_REASON_ATTRIBUTE],
            "no subscription takes this type"
        );
    }
}

#[tokio::test]
async fn a_consumer_resumes_after_its_last_confirmed_offset() {
    let sim = EventsSim::start(64, LONG);
    for event in feed(5) {
        sim.log.publish(event);
    }
    let first_seen = Seen::default();
    let (stop, shutdown) = watch::channel(false);
    let handler_seen = first_seen.clone();
    let first = tokio::spawn(sim.consumer().run(
        one_by_one(move |event: CloudEvent| {
            handler_seen.record(&event);
            async { Ok(Taken::Durably) }
        }),
        shutdown,
    ));
    eventually("the first five confirmed", || {
        sim.log.confirmed(HUB) == Some(5)
    })
    .await;
    stop.send(true).unwrap();
    first.await.unwrap();

    for event in feed(8).into_iter().skip(5) {
        sim.log.publish(event);
    }
    let second_seen = Seen::default();
    let (stop, shutdown) = watch::channel(false);
    let handler_seen = second_seen.clone();
    let second = tokio::spawn(sim.consumer().run(
        one_by_one(move |event: CloudEvent| {
            handler_seen.record(&event);
            async { Ok(Taken::Durably) }
        }),
        shutdown,
    ));
    eventually("the rest confirmed", || sim.log.confirmed(HUB) == Some(8)).await;
    stop.send(true).unwrap();
    second.await.unwrap();

    assert_eq!(first_seen.offsets(), vec![1, 2, 3, 4, 5]);
    assert_eq!(second_seen.offsets(), vec![6, 7, 8]);
}
