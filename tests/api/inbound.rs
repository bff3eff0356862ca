//! eSocial as an MConnect provider: agencies ask over SOAP (WS-Security) and REST (JWS); every
//! refusal has its stable code, nothing outside an agency's grant leaves, every answer is
//! signed and bound to its request, and every request is recorded.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use esocial_hub::demo::{DEMO_AGENCIES, DEMO_CLIENT};
use esocial_store::ExchangeStatus;
use esocial_wire::crypto::jws::{self, JwsVerifier};
use esocial_wire::crypto::pki::client_holder;
use esocial_wire::mconnect::request_hash;
use serde_json::{Value, json};

use crate::agency::{
    Agency, CHILD, MOTHER, OFFICER, fault_code, idno, in_care, texts, verified_answer,
};
use crate::helpers::{client_with, spawn_app};

#[tokio::test]
async fn police_learn_of_child_protection_and_violence_cases_and_whom_to_call_nothing_more() {
    // Arrange
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let request = police.soap_request("GetActiveCases", CHILD);

    // Act
    let (status, answer) = police.post_soap(&app, request.clone()).await;

    // Assert
    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &request, &answer);
    assert_eq!(texts(&answer, "IDNP"), [CHILD]);
    assert_eq!(texts(&answer, "HasActiveCase"), ["true"]);
    assert_eq!(
        texts(&answer, "Type"),
        ["child_protection", "domestic_violence"]
    );
    assert_eq!(texts(&answer, "WorkPhone").len(), 2);
    for withheld in ["Notes", "RiskLevel", "CaseId", "OpenedAt", "Benefits"] {
        assert!(
            texts(&answer, withheld).is_empty(),
            "{withheld} left the hub"
        );
    }
    assert!(!answer.contains("martor"), "case notes left the hub");
}

#[tokio::test]
async fn every_inbound_request_is_recorded_with_agency_user_basis_subject_and_released_fields() {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let request = police.soap_request("GetActiveCases", CHILD);

    let (status, _) = police.post_soap(&app, request.clone()).await;
    assert_eq!(status, 200);
    let refused = Agency::new(&app, "agency-school").soap_request("GetBeneficiaryStatus", CHILD);
    let (status, refusal) = Agency::new(&app, "agency-school")
        .post_soap(&app, refused.clone())
        .await;
    assert_eq!(
        fault_code(&app, &refused, status, &refusal),
        "caller.access_denied"
    );

    let rows = app.store.inbound_exchanges().await.unwrap();
    assert_eq!(rows.len(), 2, "granted and refused alike");
    let served = rows
        .iter()
        .find(|r| r.client_id == "agency-police")
        .unwrap();
    assert_eq!(served.status, ExchangeStatus::Completed);
    assert_eq!(served.service, "GetActiveCases");
    assert_eq!(served.direction, "inbound");
    assert_eq!(served.legal_basis, "Legea nr. 45/2007, art. 8");
    assert!(!format!("{served:?}").contains(CHILD), "no IDNP in clear");
    assert!(!format!("{served:?}").contains(OFFICER), "no IDNP in clear");
    assert_eq!(
        served.subject_digest.len(),
        16 + 1 + 64,
        "key id, then digest"
    );
    let released = served.fields_released.clone().unwrap();
    assert!(released.contains(&"cases.caseManager.workPhone".to_string()));
    assert!(
        !released
            .iter()
            .any(|f| f.contains("notes") || f.contains("risk"))
    );
    assert!(served.message_ids.request.is_some() && served.message_ids.response.is_some());
    let denied = rows
        .iter()
        .find(|r| r.client_id == "agency-school")
        .unwrap();
    assert_eq!(denied.error_code.as_deref(), Some("caller.access_denied"));
    // The case-management call is a child exchange of the inbound one.
    let children = app.store.children_of(served.id).await.unwrap();
    assert_eq!(children.len(), 1);
}

#[tokio::test]
async fn refusals_carry_stable_codes_in_signed_faults() {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let now = SystemTime::now();
    let body = format!("<es:IDNP>{CHILD}</es:IDNP>");
    let op = "GetActiveCases";

    // No signature at all.
    let mut cases: Vec<(&str, String)> = vec![(
        "caller.unsigned_message",
        police.unsigned(&police.context(), op, &body),
    )];
    // Expired, and made in the future.
    cases.push((
        "caller.expired_message",
        police.sign(
            &police.unsigned(&police.context(), op, &body),
            now - Duration::from_secs(20 * 60),
        ),
    ));
    cases.push((
        "caller.message_from_future",
        police.sign(
            &police.unsigned(&police.context(), op, &body),
            now + Duration::from_secs(10 * 60),
        ),
    ));
    // A signed header changed after signing.
    cases.push((
        "caller.invalid_signature",
        police
            .soap_request(op, CHILD)
            .replace("art. 8</mc:CallBasis>", "art. 9</mc:CallBasis>"),
    ));
    // An unsigned header added after signing.
    cases.push((
        "caller.incomplete_signature",
        police.soap_request(op, CHILD).replacen(
            "<mc:CallingUser",
            "<mc:Extra xmlns:mc=\"https://mconnect.gov.md\">x</mc:Extra><mc:CallingUser",
            1,
        ),
    ));
    // Purpose missing or made of no words.
    for (code, basis, reason) in [
        ("caller.missing_legal_basis", "", "Verificare"),
        ("caller.missing_legal_basis", "---", "Verificare"),
        (
            "caller.missing_legal_basis",
            "\u{200b}\u{200b}\u{200b}",
            "Verificare",
        ),
        ("caller.missing_reason", "Legea nr. 45/2007, art. 8", "..."),
    ] {
        let mut context = police.context();
        context.call_basis = basis.into();
        context.call_reason = reason.into();
        cases.push((
            code,
            police.sign(&police.unsigned(&context, op, &body), now),
        ));
    }
    // CallingEntity of another organisation; CallingUser that is not an IDNP.
    let mut context = police.context();
    context.calling_entity = idno("agency-school").into();
    cases.push((
        "caller.entity_mismatch",
        police.sign(&police.unsigned(&context, op, &body), now),
    ));
    let mut context = police.context();
    context.calling_user = "2000000000005".into();
    cases.push((
        "caller.invalid_idnp",
        police.sign(&police.unsigned(&context, op, &body), now),
    ));
    // A subject IDNP with a wrong check digit; an operation eSocial does not provide.
    cases.push((
        "caller.invalid_idnp",
        police.soap_request(op, "2999045120338"),
    ));
    cases.push((
        "caller.unknown_service",
        police.soap_request("GetCaseNotes", CHILD),
    ));
    // A DTD, and a body past the size limit.
    cases.push((
        "caller.malformed_message",
        format!(
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>{}",
            police.soap_request(op, CHILD)
        ),
    ));
    cases.push((
        "caller.message_too_large",
        police.soap_request(op, CHILD).replacen(
            "<soap:Body",
            &format!("{}<soap:Body", " ".repeat(70 * 1024)),
            1,
        ),
    ));

    for (expected, body) in cases {
        let (status, answer) = police.post_soap(&app, body.clone()).await;
        assert_eq!(fault_code(&app, &body, status, &answer), expected);
        assert!(!answer.contains(CHILD), "{expected}: no subject in a fault");
    }
}

#[tokio::test]
async fn a_replayed_request_is_refused() {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let request = police.soap_request("GetActiveCases", CHILD);

    let (first, _) = police.post_soap(&app, request.clone()).await;
    let (status, answer) = police.post_soap(&app, request.clone()).await;

    assert_eq!(first, 200);
    assert_eq!(
        fault_code(&app, &request, status, &answer),
        "caller.replayed_message"
    );
}

#[tokio::test]
async fn the_signer_must_be_the_connection_and_a_registered_agency() {
    let app = spawn_app().await;
    // Connected as the police, signed with the school's key.
    let impostor = Agency::signing_as(&app, "agency-police", "agency-school");
    let request = impostor.soap_request("GetActiveCases", CHILD);
    let (status, answer) = impostor.post_soap(&app, request.clone()).await;
    assert_eq!(
        fault_code(&app, &request, status, &answer),
        "caller.signer_mismatch"
    );

    // An eSocial module is a client of the hub, not an agency.
    let module = Agency::signing_as(&app, "agency-police", DEMO_CLIENT);
    let module = Agency {
        name: "agency-police",
        http: client_with(&app.pki, &client_holder(DEMO_CLIENT)),
        ..module
    };
    let request = module.soap_request("GetActiveCases", CHILD);
    let (status, answer) = module.post_soap(&app, request.clone()).await;
    assert_eq!(
        fault_code(&app, &request, status, &answer),
        "caller.unknown_agency"
    );
}

#[tokio::test]
async fn a_person_the_master_index_does_not_know_has_no_case() {
    let app = spawn_app().await;
    let police = Agency::new(&app, "agency-police");
    let request = police.soap_request("GetActiveCases", CHILD);

    let (status, answer) = police.post_soap(&app, request.clone()).await;

    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &request, &answer);
    assert_eq!(texts(&answer, "HasActiveCase"), ["false"]);
    assert!(texts(&answer, "Case").is_empty());
}

#[tokio::test]
async fn rest_answers_are_signed_bound_and_minimised() {
    let app = spawn_app().await;
    in_care(&app, MOTHER, "S-2").await;
    let clinic = Agency::new(&app, "agency-clinic");
    let context = clinic.context();
    let token = clinic.rest_request(&context, json!({"idnp": MOTHER}));

    let response = clinic
        .post_rest(&app, "beneficiary-status", token.clone())
        .await;

    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let verifier = JwsVerifier::from_pem(&std::fs::read(app.pki.ca_cert()).unwrap()).unwrap();
    let verified = jws::verify_compact(&body, &verifier, SystemTime::now()).unwrap();
    assert_eq!(verified.signer_common_name, "hub");
    let payload: Value = serde_json::from_slice(&verified.payload).unwrap();
    assert_eq!(
        payload["mconnect"]["relatesTo"],
        context.message_id.as_str()
    );
    assert_eq!(
        payload["mconnect"]["requestHash"],
        request_hash(token.as_bytes())
    );
    let answer = &payload["response"];
    assert_eq!(answer["beneficiary"], true);
    assert_eq!(answer["benefits"][0]["code"], "ajutor-social");
    assert!(
        answer["benefits"][0].get("monthlyAmount").is_none(),
        "{answer}"
    );
    assert!(answer["benefits"][0].get("since").is_none(), "{answer}");

    // The same token again is a replay; the refusal is problem+json with a detached JWS.
    let replay = clinic.post_rest(&app, "beneficiary-status", token).await;
    assert_eq!(replay.status(), 409);
    let detached = replay.headers()["X-JWS-Signature"]
        .to_str()
        .unwrap()
        .to_string();
    let problem = replay.bytes().await.unwrap();
    let attached = esocial_hub::api::mconnect::attach_detached(&detached, &problem).unwrap();
    jws::verify_compact(&attached, &verifier, SystemTime::now()).expect("signed refusal");
    let problem: Value = serde_json::from_slice(&problem).unwrap();
    assert_eq!(problem["code"], "caller.replayed_message");
    assert_eq!(problem["relatesTo"], context.message_id.as_str());
}

#[tokio::test]
async fn a_reported_event_is_stored_sealed_and_acknowledged() {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let fields = format!(
        "<es:IDNP>{CHILD}</es:IDNP><es:EventType>police.domestic-violence-callout</es:EventType>\
<es:OccurredAt>2026-11-30T22:10:00Z</es:OccurredAt><es:Severity>high</es:Severity>\
<es:Summary>Apel 112: copilul a fost martor</es:Summary><es:Reference>IGP-2026-7781</es:Reference>"
    );
    let request = police.sign(
        &police.unsigned(&police.context(), "NotifyCaseRelevantEvent", &fields),
        SystemTime::now(),
    );

    let (status, answer) = police.post_soap(&app, request.clone()).await;

    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &request, &answer);
    assert_eq!(texts(&answer, "Status"), ["accepted"]);
    let event_id = texts(&answer, "EventId").remove(0);
    let rows = app.store.inbound_exchanges().await.unwrap();
    let subject_digest = rows[0].subject_digest.clone();
    let events = app.store.case_events_about(&subject_digest).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, event_id);
    assert_eq!(events[0].event_type, "police.domestic-violence-callout");
    assert_eq!(events[0].state, "new");
    assert!(
        events[0].person_id.is_some(),
        "resolved through the master index"
    );
    assert!(!events[0].sealed_event.contains("martor"), "sealed");

    // A REST event with a bad field is refused naming the field, not the value.
    let context = police.context();
    let token = police.rest_request(
        &context,
        json!({"idnp": CHILD, "eventType": "Police Callout", "occurredAt": "2026-11-30T22:10:00Z",
               "severity": "high", "summary": "x"}),
    );
    let response = police.post_rest(&app, "case-events", token).await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "caller.invalid_request");
    assert_eq!(problem["violations"][0]["pointer"], "/eventType");
    assert!(!problem.to_string().contains("Police Callout"));
}

/// Everything each demo agency can see, per service, for subjects with rich case files.
#[tokio::test]
async fn no_agency_receives_a_field_outside_its_grant() {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    in_care(&app, MOTHER, "S-2").await;
    let grants = esocial_hub::demo::demo_agency_grants();
    for (agency, _, _) in DEMO_AGENCIES {
        let client = Agency::new(&app, agency);
        for (service, path) in [
            ("GetActiveCases", "active-cases"),
            ("GetBeneficiaryStatus", "beneficiary-status"),
        ] {
            for subject in [CHILD, MOTHER] {
                let context = client.context();
                let token = client.rest_request(&context, json!({"idnp": subject}));
                let response = client.post_rest(&app, path, token).await;
                let grant = grants
                    .iter()
                    .find(|g| g.agency == *agency && g.service == service);
                let Some(grant) = grant else {
                    assert_eq!(response.status(), 403, "{agency} {service}");
                    continue;
                };
                assert_eq!(response.status(), 200, "{agency} {service}");
                let body = response.text().await.unwrap();
                let payload: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(body.split('.').nth(1).unwrap())
                        .unwrap(),
                )
                .unwrap();
                let answer = &payload["response"];
                let allowed: Vec<String> = grant
                    .fields
                    .clone()
                    .unwrap()
                    .into_iter()
                    .chain(["idnp".to_string()])
                    .collect();
                for field in esocial_catalog::released_fields(answer) {
                    // A field is released by a grant of it, of what holds it, or (an empty
                    // list that holds granted fields) of what it holds.
                    let covered = |a: &String| {
                        field == *a
                            || field.starts_with(&format!("{a}."))
                            || a.starts_with(&format!("{field}."))
                    };
                    assert!(
                        allowed.iter().any(covered),
                        "{agency} {service}: `{field}` is outside the grant"
                    );
                }
                if let Some(types) = &grant.case_types {
                    for case in answer["cases"].as_array().into_iter().flatten() {
                        let kind = case["type"].as_str().unwrap().to_string();
                        assert!(types.contains(&kind), "{agency}: {kind}");
                    }
                }
            }
        }
    }
}
