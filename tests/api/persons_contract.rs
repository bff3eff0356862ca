//! The master index's published contracts against the running hub: every `/api/v1/persons`
//! answer (successes and problems) matches `contracts/openapi.json`, every request sent here
//! matches its request schema there, and `contracts/mpi/source-record.schema.json` accepts
//! exactly the records the hub's own checks accept.

use esocial_hub::demo::DEMO_UNGRANTED_CLIENT;
use esocial_mpi::record::SourceRecord;
use esocial_wire::crypto::pki::client_holder;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_matches_openapi, assert_problem, client_with, contracts_dir, spawn_app,
};

fn openapi() -> Value {
    serde_json::from_str(&std::fs::read_to_string(contracts_dir().join("openapi.json")).unwrap())
        .expect("openapi.json is JSON")
}

/// A validator for `schema`, with the OpenAPI document's components carried along.
fn with_components(mut schema: Value) -> jsonschema::Validator {
    schema["components"] = openapi()["components"].clone();
    esocial_catalog::json_schema::compile(&schema).expect("OpenAPI schema compiles")
}

fn component(name: &str) -> jsonschema::Validator {
    with_components(json!({"$ref": format!("#/components/schemas/{name}")}))
}

/// Checks a request body against the OpenAPI request schema of `method path`.
fn assert_request_matches_openapi(path: &str, method: &str, body: &Value) {
    let schema =
        openapi()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            .clone();
    assert!(
        !schema.is_null(),
        "openapi.json has no request body for {method} {path}"
    );
    if let Err(violations) = esocial_catalog::json_schema::check(&with_components(schema), body) {
        panic!("request to {method} {path} does not match openapi.json: {violations:?}\n{body}");
    }
}

/// Sends `body` (checked against the request schema first, except for undo and relink, which
/// read no body) and returns status, Location and the JSON answer.
async fn post(
    app: &TestApp,
    template: &str,
    path: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    if template != UNDO && template != RELINK {
        assert_request_matches_openapi(template, "post", &body);
    }
    let response = app.post_json(path, &body).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        location,
        response.json().await.expect("JSON answer"),
    )
}

/// POST expecting `status`; the answer must match the OpenAPI response for it.
async fn post_checked(
    app: &TestApp,
    template: &str,
    path: &str,
    body: Value,
    status: u16,
) -> Value {
    let (got, _, answer) = post(app, template, path, body).await;
    assert_eq!(got, status, "POST {path}: {answer}");
    assert_matches_openapi(template, "post", status, &answer);
    answer
}

async fn get_checked(app: &TestApp, template: &str, path: &str) -> Value {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "GET {path}: {answer}");
    assert_matches_openapi(template, "get", 200, &answer);
    answer
}

/// A problem from `POST path`, checked against the route's own OpenAPI answer.
async fn post_problem(
    app: &TestApp,
    template: &str,
    path: &str,
    body: Value,
    status: u16,
    code: &str,
) -> Value {
    let problem = assert_problem(app.post_json(path, &body).await, status, code).await;
    assert_matches_openapi(template, "post", status, &problem);
    problem
}

fn ion(local_id: &str) -> Value {
    json!({
        "localId": local_id,
        "idnp": "2000000000015",
        "firstName": "Ion",
        "lastName": "Ceban",
        "patronymic": "Vasile",
        "birthDate": "1980-04-07",
        "sex": "M",
        "phone": "+373 69 123 456",
        "identifiers": [{"system": "passport", "value": "B01234567"}],
        "address": {"district": "Cahul", "locality": "Cahul", "street": "Ştefan cel Mare", "house": "12", "postalCode": "MD-3901"}
    })
}

fn register_body(source: &str, record: Value) -> Value {
    json!({"source": source, "record": record})
}

const RECORDS: &str = "/api/v1/persons/records";
const MATCH: &str = "/api/v1/persons/match";
const PERSON: &str = "/api/v1/persons/{personId}";
const HISTORY: &str = "/api/v1/persons/{personId}/history";
const LINK: &str = "/api/v1/persons/{personId}/link";
const UNLINK: &str = "/api/v1/persons/{personId}/unlink";
const MERGE: &str = "/api/v1/persons/{personId}/merge";
const UNMERGE: &str = "/api/v1/persons/{personId}/unmerge";
const UNDO: &str = "/api/v1/persons/history/{entryId}/undo";
const REVIEWS: &str = "/api/v1/persons/reviews";
const DECISION: &str = "/api/v1/persons/reviews/{reviewId}/decision";
const RELINK: &str = "/api/v1/persons/relink";

#[tokio::test]
async fn every_persons_answer_matches_the_openapi_document() {
    let app = spawn_app().await;

    // Registration: 201 for a new record, with the person in Location.
    let (status, location, first) =
        post(&app, RECORDS, RECORDS, register_body("social", ion("S-1"))).await;
    assert_eq!(status, 201, "{first}");
    assert_matches_openapi(RECORDS, "post", 201, &first);
    let a = first["personId"].as_str().unwrap().to_owned();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/persons/{a}").as_str())
    );
    assert_eq!(first["outcome"], "no-match");
    assert_eq!(first["createdPerson"], true);
    assert_eq!(first["updated"], false);
    assert!(
        first.get("reviewId").is_none() && first.get("score").is_none(),
        "{first}"
    );

    // The same record again: 200, an update of the same person.
    let again = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body("social", ion("S-1")),
        200,
    )
    .await;
    assert_eq!(again["updated"], true);
    assert_eq!(again["personId"], a.as_str());
    assert_ne!(again["historyEntry"], first["historyEntry"]);

    // Matching: candidates with explanations; a stranger has none.
    let variant = json!({
        "localId": "E-77", "idnp": "2000000000015", "firstName": "Ион", "lastName": "Чебан",
        "birthDate": "1980-07-04", "sex": "M"
    });
    let matched = post_checked(
        &app,
        MATCH,
        MATCH,
        json!({"record": variant, "limit": 3}),
        200,
    )
    .await;
    assert_eq!(matched["outcome"], "auto-link", "{matched}");
    let candidate = &matched["candidates"][0];
    assert_eq!(candidate["personId"], a.as_str());
    assert_eq!(
        candidate["matchedRecord"],
        json!({"source": "social", "localId": "S-1"})
    );
    let explanation = candidate["explanation"].as_array().unwrap();
    let sum: f64 = explanation
        .iter()
        .map(|c| c["weight"].as_f64().unwrap())
        .sum();
    assert!(
        (sum - candidate["weight"].as_f64().unwrap()).abs() < 0.1,
        "{candidate}"
    );
    let stranger = post_checked(
        &app,
        MATCH,
        MATCH,
        json!({"record": {"lastName": "Nimeni"}}),
        200,
    )
    .await;
    assert_eq!(stranger, json!({"outcome": "no-match", "candidates": []}));

    let linked = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body("education", variant),
        201,
    )
    .await;
    assert_eq!(linked["outcome"], "auto-link");
    assert_eq!(linked["personId"], a.as_str());
    assert!(linked["score"].as_f64().unwrap() >= 20.0, "{linked}");

    let view = get_checked(&app, PERSON, &format!("/api/v1/persons/{a}")).await;
    assert_eq!(view["status"], "active");
    assert_eq!(view["conflicts"], json!([]));
    let records = view["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let auto = records.iter().find(|r| r["source"] == "education").unwrap();
    assert_eq!(auto["link"]["rule"], "auto");
    assert_eq!(
        auto["link"]["anchor"],
        json!({"source": "social", "localId": "S-1"})
    );
    assert_eq!(auto["attributes"]["firstName"], "Ион");

    // No birth date, all else the same: a review, decided non-match, then listed as decided.
    let ana = json!({
        "localId": "1", "firstName": "Ana", "lastName": "Rusu", "birthDate": "2015-09-01",
        "sex": "F", "address": {"district": "Orhei", "locality": "Orhei", "street": "Vasile Lupu", "house": "3"}
    });
    let mut maria = ana.clone();
    maria["localId"] = json!("2");
    maria.as_object_mut().unwrap().remove("birthDate");
    let ana = post_checked(&app, RECORDS, RECORDS, register_body("school", ana), 201).await;
    let ana_id = ana["personId"].as_str().unwrap().to_owned();
    let maria = post_checked(&app, RECORDS, RECORDS, register_body("school", maria), 201).await;
    assert_eq!(maria["outcome"], "review", "{maria}");
    let review_id = maria["reviewId"]
        .as_str()
        .expect("a review was opened")
        .to_owned();
    let open = get_checked(&app, REVIEWS, REVIEWS).await;
    let review = open["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == review_id.as_str())
        .expect("the review is listed")
        .clone();
    assert_eq!(review["status"], "open");
    assert_eq!(review["candidatePersonId"], ana_id.as_str());
    assert!(
        review["explanation"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let decision_path = format!("/api/v1/persons/reviews/{review_id}/decision");
    let decision = post_checked(
        &app,
        DECISION,
        &decision_path,
        json!({"verdict": "non-match"}),
        200,
    )
    .await;
    assert_eq!(decision["action"], "review-non-match");
    assert_eq!(
        decision["changes"]["nonMatches"][0],
        json!({"record": {"source": "school", "localId": "2"}, "person": ana_id, "added": true})
    );
    let decided = get_checked(
        &app,
        REVIEWS,
        "/api/v1/persons/reviews?status=non-match&limit=10",
    )
    .await;
    assert_eq!(decided["reviews"][0]["id"], review_id.as_str());
    assert_eq!(decided["reviews"][0]["decidedBy"], "case-management");
    assert!(decided["reviews"][0]["decidedAt"].is_i64());

    // Link by hand withdraws the non-match; unlink remembers it again.
    let maria_ref = json!({"source": "school", "localId": "2"});
    let link = post_checked(
        &app,
        LINK,
        &format!("/api/v1/persons/{ana_id}/link"),
        maria_ref.clone(),
        200,
    )
    .await;
    assert_eq!(link["action"], "link");
    let after = &link["changes"]["records"][0]["after"];
    assert_eq!(after["person"], ana_id.as_str());
    assert_eq!(after["link"]["rule"], "manual");
    assert_eq!(after["link"]["pinned"], true);
    assert_eq!(link["changes"]["nonMatches"][0]["added"], false);
    let unlink = post_checked(
        &app,
        UNLINK,
        &format!("/api/v1/persons/{ana_id}/unlink"),
        maria_ref.clone(),
        200,
    )
    .await;
    assert_eq!(unlink["action"], "unlink");
    assert_eq!(unlink["changes"]["nonMatches"][0]["added"], true);
    let moved_to = unlink["changes"]["records"][0]["after"]["person"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(moved_to, ana_id);
    // The link entry cannot be undone any more: its record has moved since.
    let link_undo = format!(
        "/api/v1/persons/history/{}/undo",
        link["id"].as_str().unwrap()
    );
    post_problem(
        &app,
        UNDO,
        &link_undo,
        json!({}),
        409,
        "caller.changed_since",
    )
    .await;
    let undo_unlink = format!(
        "/api/v1/persons/history/{}/undo",
        unlink["id"].as_str().unwrap()
    );
    let undone = post_checked(&app, UNDO, &undo_unlink, json!({}), 200).await;
    assert_eq!(undone["action"], "undo");
    assert_eq!(undone["undoes"], unlink["id"]);
    assert_eq!(
        undone["changes"]["records"][0]["after"]["person"],
        ana_id.as_str()
    );

    // Merge and unmerge; the merged person's view names the survivor.
    let b = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body("social", json!({"localId": "9", "firstName": "Vasile", "lastName": "Lungu", "birthDate": "1950"})),
        201,
    )
    .await;
    let b_id = b["personId"].as_str().unwrap().to_owned();
    let merge = post_checked(
        &app,
        MERGE,
        &format!("/api/v1/persons/{a}/merge"),
        json!({"personId": b_id}),
        200,
    )
    .await;
    assert_eq!(merge["action"], "merge");
    assert_eq!(
        merge["changes"]["persons"],
        json!([{"person": b_id, "mergedIntoBefore": null, "mergedIntoAfter": a}])
    );
    let merged = get_checked(&app, PERSON, &format!("/api/v1/persons/{b_id}")).await;
    assert_eq!(merged["status"], "merged");
    assert_eq!(merged["mergedInto"], a.as_str());
    assert_eq!(merged["records"], json!([]));
    post_problem(
        &app,
        LINK,
        &format!("/api/v1/persons/{b_id}/link"),
        maria_ref.clone(),
        409,
        "caller.person_merged",
    )
    .await;
    let unmerge = post_checked(
        &app,
        UNMERGE,
        &format!("/api/v1/persons/{a}/unmerge"),
        json!({"personId": b_id}),
        200,
    )
    .await;
    assert_eq!(unmerge["action"], "undo");
    assert_eq!(unmerge["undoes"], merge["id"]);

    let history = get_checked(&app, HISTORY, &format!("/api/v1/persons/{b_id}/history")).await;
    assert_eq!(history["personId"], b_id.as_str());
    let entries = history["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["register", "merge", "undo"]);
    assert_eq!(entries[1]["undoneBy"], unmerge["id"]);
    assert_eq!(entries[0]["changes"]["records"][0]["before"], Value::Null);
    let history_a = get_checked(&app, HISTORY, &format!("/api/v1/persons/{a}/history")).await;
    let actions_a: Vec<&str> = history_a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions_a,
        ["register", "update", "register", "merge", "undo"]
    );

    // A reviewer's match: the record moves, pinned, with the rule `review`.
    let married = json!({
        "localId": "A", "firstName": "Elena", "lastName": "Munteanu", "birthDate": "1979-02-11",
        "sex": "F", "phone": "069123456", "address": {"locality": "Bălţi", "street": "Independenţei", "house": "5"}
    });
    let mut maiden = married.clone();
    maiden["localId"] = json!("B");
    maiden["lastName"] = json!("Ţurcanu");
    maiden["birthDate"] = json!("1979");
    let elena = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body("social", married),
        201,
    )
    .await;
    let maiden = post_checked(&app, RECORDS, RECORDS, register_body("police", maiden), 201).await;
    assert_eq!(maiden["outcome"], "review", "{maiden}");
    let path = format!(
        "/api/v1/persons/reviews/{}/decision",
        maiden["reviewId"].as_str().unwrap()
    );
    let entry = post_checked(&app, DECISION, &path, json!({"verdict": "match"}), 200).await;
    assert_eq!(entry["action"], "review-match");
    let moved = &entry["changes"]["records"][0]["after"];
    assert_eq!(moved["person"], elena["personId"]);
    assert_eq!(moved["link"]["rule"], "review");
    assert_eq!(moved["link"]["pinned"], true);
    post_problem(
        &app,
        DECISION,
        &path,
        json!({"verdict": "non-match"}),
        409,
        "caller.already_decided",
    )
    .await;
    let matched_view = get_checked(
        &app,
        PERSON,
        &format!("/api/v1/persons/{}", elena["personId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(matched_view["records"].as_array().unwrap().len(), 2);

    // A relink under unchanged weights examines every automatic link and leaves the records
    // people placed where they are.
    let relinked = post_checked(&app, RELINK, RELINK, json!({}), 200).await;
    assert!(relinked["examined"].as_u64().unwrap() > 0, "{relinked}");
    assert!(relinked["pinned"].as_u64().unwrap() >= 1, "{relinked}");
    let after_relink = get_checked(
        &app,
        PERSON,
        &format!("/api/v1/persons/{}", elena["personId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(after_relink["records"], matched_view["records"]);
    get_checked(&app, REVIEWS, "/api/v1/persons/reviews?status=withdrawn").await;
}

#[tokio::test]
async fn persons_problems_match_the_openapi_document() {
    let app = spawn_app().await;
    let a = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body("social", ion("1")),
        201,
    )
    .await;
    let a_id = a["personId"].as_str().unwrap().to_owned();
    let lone = post_checked(
        &app,
        RECORDS,
        RECORDS,
        register_body(
            "police",
            json!({"localId": "P-1", "lastName": "Necunoscut", "birthDate": "1961"}),
        ),
        201,
    )
    .await;
    let lone_id = lone["personId"].as_str().unwrap().to_owned();

    // 422: a field fails its checks; the pointer names it, the value is not echoed.
    let problem = post_problem(
        &app,
        RECORDS,
        RECORDS,
        register_body("social", json!({"localId": "2", "birthDate": "1980-02-30"})),
        422,
        "caller.invalid_record",
    )
    .await;
    assert_eq!(problem["violations"][0]["pointer"], "/record/birthDate");
    assert!(!problem.to_string().contains("1980-02-30"), "{problem}");
    let problem = post_problem(
        &app,
        RECORDS,
        RECORDS,
        register_body(
            "social",
            json!({"localId": "2", "address": {"district": "a\u{0007}b"}}),
        ),
        422,
        "caller.invalid_record",
    )
    .await;
    assert_eq!(
        problem["violations"][0]["pointer"],
        "/record/address/district"
    );
    let problem = post_problem(
        &app,
        RECORDS,
        RECORDS,
        json!({"source": "Legacy SAS", "record": {"localId": "2"}}),
        422,
        "caller.invalid_record",
    )
    .await;
    assert_eq!(problem["violations"][0]["pointer"], "/source");
    let problem = post_problem(
        &app,
        MATCH,
        MATCH,
        json!({"record": {"idnp": "12345"}}),
        422,
        "caller.invalid_record",
    )
    .await;
    assert_eq!(problem["violations"][0]["pointer"], "/record/idnp");
    assert!(!problem.to_string().contains("12345"), "{problem}");

    // 400: a body that is not the route's request.
    post_problem(
        &app,
        DECISION,
        "/api/v1/persons/reviews/x/decision",
        json!({"verdict": "maybe"}),
        400,
        "caller.malformed_json",
    )
    .await;
    let bad_status = assert_problem(
        app.get("/api/v1/persons/reviews?status=closed").await,
        400,
        "caller.invalid_request",
    )
    .await;
    assert_matches_openapi(REVIEWS, "get", 400, &bad_status);

    // 404s.
    for id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let unknown = assert_problem(
            app.get(&format!("/api/v1/persons/{id}")).await,
            404,
            "caller.unknown_person",
        )
        .await;
        assert_matches_openapi(PERSON, "get", 404, &unknown);
    }
    let unknown = assert_problem(
        app.get("/api/v1/persons/00000000-0000-0000-0000-000000000000/history")
            .await,
        404,
        "caller.unknown_person",
    )
    .await;
    assert_matches_openapi(HISTORY, "get", 404, &unknown);
    post_problem(
        &app,
        LINK,
        &format!("/api/v1/persons/{a_id}/link"),
        json!({"source": "social", "localId": "nobody"}),
        404,
        "caller.unknown_record",
    )
    .await;
    post_problem(
        &app,
        DECISION,
        "/api/v1/persons/reviews/00000000-0000-0000-0000-000000000000/decision",
        json!({"verdict": "match"}),
        404,
        "caller.unknown_review",
    )
    .await;
    let missing_entry = app
        .post_json(
            "/api/v1/persons/history/00000000-0000-0000-0000-000000000000/undo",
            &json!({}),
        )
        .await;
    let missing_entry = assert_problem(missing_entry, 404, "caller.unknown_history_entry").await;
    assert_matches_openapi(UNDO, "post", 404, &missing_entry);

    // 409s.
    let social_1 = json!({"source": "social", "localId": "1"});
    post_problem(
        &app,
        LINK,
        &format!("/api/v1/persons/{a_id}/link"),
        social_1.clone(),
        409,
        "caller.already_linked",
    )
    .await;
    post_problem(
        &app,
        UNLINK,
        &format!("/api/v1/persons/{lone_id}/unlink"),
        social_1.clone(),
        409,
        "caller.not_linked",
    )
    .await;
    post_problem(
        &app,
        UNLINK,
        &format!("/api/v1/persons/{a_id}/unlink"),
        social_1,
        409,
        "caller.only_record",
    )
    .await;
    post_problem(
        &app,
        MERGE,
        &format!("/api/v1/persons/{a_id}/merge"),
        json!({"personId": a_id}),
        409,
        "caller.same_person",
    )
    .await;
    post_problem(
        &app,
        UNMERGE,
        &format!("/api/v1/persons/{a_id}/unmerge"),
        json!({"personId": lone_id}),
        409,
        "caller.not_merged",
    )
    .await;
    let register_entry = format!(
        "/api/v1/persons/history/{}/undo",
        a["historyEntry"].as_str().unwrap()
    );
    post_problem(
        &app,
        UNDO,
        &register_entry,
        json!({}),
        409,
        "caller.not_undoable",
    )
    .await;
    let mut other = ion("2");
    other["idnp"] = json!("2000000000026");
    let b = post_checked(&app, RECORDS, RECORDS, register_body("health", other), 201).await;
    assert_ne!(b["personId"], a_id.as_str());
    post_problem(
        &app,
        MERGE,
        &format!("/api/v1/persons/{a_id}/merge"),
        json!({"personId": b["personId"]}),
        409,
        "caller.idnp_conflict",
    )
    .await;
    let merge = post_checked(
        &app,
        MERGE,
        &format!("/api/v1/persons/{a_id}/merge"),
        json!({"personId": b["personId"], "acknowledgeIdnpConflict": true}),
        200,
    )
    .await;
    let conflicted = get_checked(&app, PERSON, &format!("/api/v1/persons/{a_id}")).await;
    assert_eq!(conflicted["conflicts"], json!(["idnp"]));
    let merge_undo = format!(
        "/api/v1/persons/history/{}/undo",
        merge["id"].as_str().unwrap()
    );
    post_checked(&app, UNDO, &merge_undo, json!({}), 200).await;
    post_problem(
        &app,
        UNDO,
        &merge_undo,
        json!({}),
        409,
        "caller.already_undone",
    )
    .await;

    // 403: a client without master-index roles, on each kind of route.
    let benefits = client_with(&app.pki, &client_holder(DEMO_UNGRANTED_CLIENT));
    let denied = benefits
        .post(format!("{}{RECORDS}", app.address))
        .json(&register_body("social", json!({"localId": "3"})))
        .send()
        .await
        .unwrap();
    let denied = assert_problem(denied, 403, "caller.access_denied").await;
    assert_matches_openapi(RECORDS, "post", 403, &denied);
    assert!(
        denied["detail"].as_str().unwrap().contains("register"),
        "{denied}"
    );
    let denied = assert_problem(
        app.get_as(&benefits, &format!("/api/v1/persons/{a_id}"))
            .await,
        403,
        "caller.access_denied",
    )
    .await;
    assert_matches_openapi(PERSON, "get", 403, &denied);
    let denied = assert_problem(
        app.get_as(&benefits, REVIEWS).await,
        403,
        "caller.access_denied",
    )
    .await;
    assert_matches_openapi(REVIEWS, "get", 403, &denied);
    let denied = benefits
        .post(format!("{}{RELINK}", app.address))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let denied = assert_problem(denied, 403, "caller.access_denied").await;
    assert_matches_openapi(RELINK, "post", 403, &denied);
}

/// Whether the hub takes a record: it must deserialise and pass `check()`. On refusal, the
/// JSON pointer of the field `check()` names (empty when deserialising failed).
fn hub_verdict(record: &Value) -> Result<(), String> {
    let parsed: SourceRecord = serde_json::from_value(record.clone()).map_err(|_| String::new())?;
    parsed.check().map_err(|error| {
        let mut pointer = String::new();
        for part in error.field.split('.') {
            match part.split_once('[') {
                Some((name, index)) => {
                    pointer.push_str(&format!("/{name}/{}", index.trim_end_matches(']')))
                }
                None => pointer.push_str(&format!("/{part}")),
            }
        }
        pointer
    })
}

#[test]
fn the_source_record_schema_accepts_exactly_what_the_hub_accepts() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(contracts_dir().join("mpi/source-record.schema.json")).unwrap(),
    )
    .expect("source-record.schema.json is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let standalone = esocial_catalog::json_schema::compile(&schema).expect("the schema compiles");
    let in_openapi = component("SourceRecord");

    let long = |n: usize| "И".repeat(n);
    let identifiers = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"system": "passport", "value": format!("B{i}")}))
            .collect()
    };
    let samples: Vec<(Value, bool)> = vec![
        (json!({"localId": "A-1"}), true),
        (ion("A-2"), true),
        (json!({"localId": "3", "idnp": "2000000000016"}), true), // suspect: check digit fails
        (json!({"localId": "4", "idnp": " 2000000000015 "}), true),
        (json!({"localId": "5", "idnp": ""}), true),
        (
            json!({"localId": "6", "idnp": null, "firstName": null, "lastName": null, "patronymic": null,
                "birthDate": null, "sex": null, "address": null, "phone": null}),
            true,
        ),
        (
            json!({"localId": "7", "address": {"postalCode": "MD-2001", "house": null}}),
            true,
        ),
        (json!({"localId": "8", "phone": "(0 22) 23-45-67"}), true),
        (json!({"localId": "  padded  "}), true),
        (json!({"localId": format!(" {} ", long(200))}), true),
        (
            json!({"localId": "9", "firstName": long(200), "lastName": "Ţurcanu-Чебан"}),
            true,
        ),
        (
            json!({"localId": "10", "identifiers": identifiers(16)}),
            true,
        ),
        (
            json!({"localId": "11", "identifiers": [{"system": "birth-certificate", "value": "II-MD 123:4"}]}),
            true,
        ),
        (json!({"localId": "12", "birthDate": " 1980-04 "}), true),
        (json!({"localId": "13", "birthDate": ""}), true),
        (json!({"localId": "14", "sex": "F", "firstName": ""}), true),
        (json!({"localId": "  "}), false),
        (json!({"localId": ""}), false),
        (json!({"localId": "a\u{0007}b"}), false),
        (json!({"localId": "a\u{0085}b"}), false),
        (json!({"localId": long(201)}), false),
        (json!({"idnp": "2000000000015"}), false),
        (json!({"localId": 15}), false),
        (json!({"localId": "16", "idnp": "200000000001"}), false),
        (json!({"localId": "17", "idnp": "20000000000AB"}), false),
        (json!({"localId": "18", "idnp": "2000000000015 1"}), false),
        (json!({"localId": "19", "idnp": 2000000000015u64}), false),
        (json!({"localId": "20", "sex": "X"}), false),
        (json!({"localId": "21", "sex": "m"}), false),
        (json!({"localId": "22", "sex": ""}), false),
        (json!({"localId": "23", "phone": "call me"}), false),
        (json!({"localId": "24", "phone": "12345"}), false),
        (json!({"localId": "25", "phone": "1234567890123456"}), false),
        (json!({"localId": "26", "phone": ""}), false),
        (json!({"localId": "27", "phone": "069\t123456"}), false),
        (json!({"localId": "28", "firstName": "Ion\n"}), false),
        (json!({"localId": "29", "lastName": long(201)}), false),
        (
            json!({"localId": "30", "address": {"district": "a\u{0000}b"}}),
            false,
        ),
        (
            json!({"localId": "31", "address": {"county": "Cahul"}}),
            false,
        ),
        (json!({"localId": "32", "address": "Cahul"}), false),
        (
            json!({"localId": "33", "identifiers": identifiers(17)}),
            false,
        ),
        (
            json!({"localId": "34", "identifiers": [{"system": "", "value": "1"}]}),
            false,
        ),
        (
            json!({"localId": "35", "identifiers": [{"system": "passport", "value": "  "}]}),
            false,
        ),
        (
            json!({"localId": "36", "identifiers": [{"system": "passport"}]}),
            false,
        ),
        (
            json!({"localId": "37", "identifiers": [{"system": "passport", "value": "1", "issued": "2020"}]}),
            false,
        ),
        (json!({"localId": "38", "identifiers": null}), false),
        (json!({"localId": "39", "surname": "Rusu"}), false),
        (json!({"localId": "40", "birthDate": 1980}), false),
    ];
    for (record, expected) in &samples {
        let hub = hub_verdict(record);
        assert_eq!(
            hub.is_ok(),
            *expected,
            "the hub's checks on {record}: {hub:?}"
        );
        let verdict = esocial_catalog::json_schema::check(&standalone, record);
        assert_eq!(
            verdict.is_ok(),
            *expected,
            "source-record.schema.json on {record}: {verdict:?}"
        );
        assert_eq!(
            esocial_catalog::json_schema::check(&in_openapi, record).is_ok(),
            *expected,
            "openapi.json SourceRecord on {record}"
        );
        // Where check() names a field, the schema points at the same place.
        if let (Err(pointer), Err(violations)) = (&hub, &verdict)
            && !pointer.is_empty()
        {
            assert!(
                violations
                    .iter()
                    .any(|v| v.pointer.starts_with(pointer.as_str())),
                "{record}: check() names {pointer}, the schema {violations:?}"
            );
        }
    }

    // Birth dates, exhaustively over months and days for years that matter (leap, century,
    // year zero), and every shape.
    let mut dates = vec![
        "",
        "1980-",
        "80-01-01",
        "1980-1-1",
        "1980-01-01-01",
        "1980/01/01",
        "198O",
        "+1980",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    for year in [
        "0000", "0001", "0004", "0100", "0400", "1900", "1981", "2000", "2024", "9999",
    ] {
        dates.push(year.to_owned());
        for month in 0..=13 {
            dates.push(format!("{year}-{month:02}"));
            for day in 0..=32 {
                dates.push(format!("{year}-{month:02}-{day:02}"));
            }
        }
    }
    let mut accepted = 0;
    for date in &dates {
        let record = json!({"localId": "d", "birthDate": date});
        let hub = hub_verdict(&record).is_ok();
        let schema = esocial_catalog::json_schema::check(&standalone, &record).is_ok();
        assert_eq!(
            schema, hub,
            "birthDate {date:?}: schema {schema}, hub {hub}"
        );
        accepted += usize::from(hub);
    }
    // Not vacuous: both valid and invalid dates were compared.
    assert!(
        accepted > 3000 && accepted < dates.len() - 1000,
        "{accepted} of {}",
        dates.len()
    );

    // Matching takes the same record without localId; registration does not.
    let query = json!({"lastName": "Rusu", "birthDate": "1980"});
    assert!(esocial_catalog::json_schema::check(&component("MatchRecord"), &query).is_ok());
    assert!(esocial_catalog::json_schema::check(&in_openapi, &query).is_err());
}

#[test]
fn the_exchange_subject_alternatives_agree_with_the_request_schema() {
    let in_openapi = component("ExchangeRequest");
    let mut request = json!({
        "service": "civil.person-details",
        "purpose": {"legalBasis": "Legea nr. 123/2010, art. 12", "reason": "Evaluarea inițială"},
        "caller": {"userIdnp": "2000000000004"}
    });
    let subjects = [
        (json!({"idnp": "2000000000015"}), true),
        (
            json!({"personId": "0190f5c2-7a3e-7c41-9b7e-2f4a1d3c5e60"}),
            true,
        ),
        (json!({"source": "legacy-sas", "localId": "SAS-1"}), true),
        (json!({"personId": "not-a-uuid"}), false),
        (json!({"source": "legacy-sas"}), false),
        (
            json!({"idnp": "2000000000015", "personId": "0190f5c2-7a3e-7c41-9b7e-2f4a1d3c5e60"}),
            false,
        ),
        (json!({}), false),
    ];
    for (subject, expected) in subjects {
        request["subject"] = subject.clone();
        let shipped = esocial_hub::schema::validate("exchange-request", &request).is_ok();
        let published = esocial_catalog::json_schema::check(&in_openapi, &request).is_ok();
        assert_eq!(
            shipped, expected,
            "schemas/exchange-request.schema.json on {subject}"
        );
        assert_eq!(
            published, expected,
            "openapi.json ExchangeRequest on {subject}"
        );
    }
}
