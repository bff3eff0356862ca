//! The eSocial module stand-in: signed CloudEvent webhooks, recorded once.

use std::time::{Duration, SystemTime};

use esocial_wire::crypto::jws::{JwsSigner, sign_compact};
use esocial_wire::crypto::pki::generate_ca;
use esocial_wire::crypto::pki::{CertificateRole, issue_leaf};
use esocial_wire::mconnect::cloudevent::CloudEvent;
use serde_json::json;

use crate::helpers::{HUB, hub_client, pki, start_module};

fn event(id: &str) -> CloudEvent {
    CloudEvent::from_value(json!({
        "specversion": "1.0",
        "id": id,
        "source": "urn:esocial:hub",
        "type": "Gov.Civil.Person.Died",
        "partitionkey": "idnp:2000000000004",
        "data": {"idnp": "2000000000004", "dateOfDeath": "2026-10-30", "actNumber": "D-1"}
    }))
    .unwrap()
}

fn signed_by(signer: &JwsSigner, event: &CloudEvent) -> String {
    let payload = event.to_value().to_string();
    sign_compact(
        payload.as_bytes(),
        signer,
        SystemTime::now(),
        Duration::from_secs(300),
    )
    .unwrap()
}

fn hub_signer() -> JwsSigner {
    let pki = pki();
    JwsSigner::from_pem(
        &std::fs::read(pki.key(HUB)).unwrap(),
        &std::fs::read(pki.cert(HUB)).unwrap(),
    )
    .unwrap()
}

async fn deliver(base: &str, body: String) -> u16 {
    hub_client()
        .post(format!("{base}/events"))
        .header("content-type", "application/jose")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_signed_event_is_recorded_once_however_often_it_comes() {
    let (base, module) = start_module();
    let signer = hub_signer();
    let before = std::time::Instant::now();

    let first = deliver(&base, signed_by(&signer, &event("evt-1"))).await;
    let again = deliver(&base, signed_by(&signer, &event("evt-1"))).await;
    let other = deliver(&base, signed_by(&signer, &event("evt-2"))).await;

    assert_eq!((first, again, other), (204, 204, 204));
    let events = module.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], "evt-1");
    assert_eq!(events[1]["id"], "evt-2");
    let arrivals = module.arrivals();
    let ids: Vec<&str> = arrivals.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["evt-1", "evt-2"], "the first arrival of each");
    assert!(before <= arrivals[0].1 && arrivals[0].1 <= arrivals[1].1);
}

#[tokio::test]
async fn an_unsigned_or_foreign_signed_event_is_refused_and_down_means_503() {
    let (base, module) = start_module();
    let stranger_ca = generate_ca("another CA").unwrap();
    let stranger = issue_leaf(&stranger_ca, "hub", CertificateRole::Client).unwrap();
    let stranger_signer = JwsSigner::from_pem(
        &stranger.key_pem().unwrap(),
        &stranger.certificate_pem().unwrap(),
    )
    .unwrap();

    let unsigned = deliver(&base, event("evt-1").to_value().to_string()).await;
    let foreign = deliver(&base, signed_by(&stranger_signer, &event("evt-1"))).await;
    module.set_down(true);
    let down = deliver(&base, signed_by(&hub_signer(), &event("evt-1"))).await;
    module.set_down(false);

    assert_eq!(unsigned, 401);
    assert_eq!(foreign, 401);
    assert_eq!(down, 503);
    assert!(module.is_empty());
}
