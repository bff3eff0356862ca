//! The master index over HTTP: registration and matching, the review queue, merge and
//! unmerge, undo, concurrency, access and exchanges whose subject is a person of the index.

use esocial_hub::demo::DEMO_UNGRANTED_CLIENT;
use esocial_wire::crypto::pki::client_holder;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, client_with, spawn_app};

async fn register(app: &TestApp, source: &str, record: Value) -> Value {
    let response = app
        .post_json(
            "/api/v1/persons/records",
            &json!({"source": source, "record": record}),
        )
        .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON answer");
    assert!(status == 201 || status == 200, "{status}: {body}");
    body
}

async fn person(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/api/v1/persons/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("person JSON")
}

async fn post_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app.post_json(path, &body).await;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

fn ion(local_id: &str) -> Value {
    json!({
        "localId": local_id,
        "idnp": "2000000000015",
        "firstName": "Ion",
        "lastName": "Ceban",
        "birthDate": "1980-04-07",
        "sex": "M",
        "address": {"district": "Cahul", "locality": "Cahul", "street": "Ştefan cel Mare", "house": "12"}
    })
}

#[tokio::test]
async fn a_cyrillic_variant_with_the_same_idnp_links_to_the_same_person() {
    let app = spawn_app().await;
    let first = register(&app, "social", ion("S-1")).await;
    assert_eq!(first["outcome"], "no-match");
    assert_eq!(first["createdPerson"], true);
    let variant = json!({
        "localId": "E-77", "idnp": "2000000000015", "firstName": "Ион", "lastName": "Чебан",
        "birthDate": "1980-07-04", "sex": "M"
    });
    let matched = post_ok(&app, "/api/v1/persons/match", json!({"record": variant})).await;
    assert_eq!(matched["outcome"], "auto-link", "{matched}");
    assert_eq!(matched["candidates"][0]["personId"], first["personId"]);
    let explanation = matched["candidates"][0]["explanation"].as_array().unwrap();
    assert!(
        explanation
            .iter()
            .any(|c| c["attribute"] == "birthDate" && c["level"] == "day-month-swapped"),
        "{explanation:?}"
    );
    // Matching changed nothing.
    assert_eq!(
        person(&app, first["personId"].as_str().unwrap()).await["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let second = register(&app, "education", variant).await;
    assert_eq!(second["outcome"], "auto-link");
    assert_eq!(second["personId"], first["personId"]);
    let view = person(&app, first["personId"].as_str().unwrap()).await;
    let records = view["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let original = records.iter().find(|r| r["source"] == "social").unwrap();
    assert_eq!(original["link"]["rule"], "new");
    let linked = records.iter().find(|r| r["source"] == "education").unwrap();
    assert_eq!(linked["link"]["rule"], "auto");
    assert!(linked["link"]["score"].as_f64().unwrap() >= 20.0);
    assert_eq!(linked["attributes"]["lastName"], "Чебан");

    let audit = app
        .store
        .mpi_audit_of(first["personId"].as_str().unwrap())
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(
        actions.contains(&"register") && actions.contains(&"read"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn twins_stay_two_persons_and_a_non_match_decision_is_remembered() {
    let app = spawn_app().await;
    let ana = json!({
        "localId": "1", "firstName": "Ana", "lastName": "Rusu", "birthDate": "2015-09-01",
        "sex": "F", "address": {"district": "Orhei", "locality": "Orhei", "street": "Vasile Lupu", "house": "3"}
    });
    let mut twin = ana.clone();
    twin["localId"] = json!("T");
    twin["firstName"] = json!("Maria");
    let first = register(&app, "school", ana.clone()).await;
    // Twins score high on surname, birth date and address, but different first names with no
    // agreeing identifier make them two persons: neither linked nor reviewed.
    let twin_registered = register(&app, "school", twin.clone()).await;
    assert_ne!(twin_registered["personId"], first["personId"]);
    assert_eq!(twin_registered["outcome"], "no-match", "{twin_registered}");
    assert!(
        twin_registered.get("reviewId").is_none(),
        "{twin_registered}"
    );
    let matched = post_ok(&app, "/api/v1/persons/match", json!({"record": twin})).await;
    let ana_candidate = matched["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["personId"] == first["personId"])
        .expect("Ana is a candidate");
    assert!(
        ana_candidate["weight"].as_f64().unwrap() >= 20.0,
        "{ana_candidate}"
    );
    assert_eq!(ana_candidate["outcome"], "no-match");
    assert!(
        ana_candidate["anotherPersonBecause"]
            .as_str()
            .unwrap()
            .contains("first names differ")
    );

    // No birth date, all else the same: a human decides (a mother and a daughter of one name?).
    let mut maria = ana;
    maria["localId"] = json!("2");
    maria.as_object_mut().unwrap().remove("birthDate");
    let second = register(&app, "school", maria.clone()).await;
    assert_ne!(second["personId"], first["personId"]);
    assert_eq!(second["outcome"], "review", "{second}");
    let review_id = second["reviewId"]
        .as_str()
        .expect("a review was opened")
        .to_owned();

    let queue = app.get("/api/v1/persons/reviews").await;
    let queue: Value = queue.json().await.unwrap();
    let review = queue["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == review_id.as_str())
        .expect("listed");
    assert_eq!(review["candidatePersonId"], first["personId"]);
    assert!(
        review["reason"]
            .as_str()
            .unwrap()
            .contains("a birth date is missing")
    );

    let decision = post_ok(
        &app,
        &format!("/api/v1/persons/reviews/{review_id}/decision"),
        json!({"verdict": "non-match"}),
    )
    .await;
    assert_eq!(decision["action"], "review-non-match");
    let again = app
        .post_json(
            &format!("/api/v1/persons/reviews/{review_id}/decision"),
            &json!({"verdict": "match"}),
        )
        .await;
    assert_problem(again, 409, "caller.already_decided").await;

    // Sending the same record again neither links it nor asks again.
    let updated = register(&app, "school", maria).await;
    assert_eq!(updated["updated"], true);
    assert_eq!(updated["personId"], second["personId"]);
    assert!(updated.get("reviewId").is_none(), "{updated}");
    let open: Value = app
        .get("/api/v1/persons/reviews")
        .await
        .json()
        .await
        .unwrap();
    assert!(open["reviews"].as_array().unwrap().is_empty(), "{open}");
    let decided: Value = app
        .get("/api/v1/persons/reviews?status=non-match")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(decided["reviews"][0]["decidedBy"], "case-management");
}

#[tokio::test]
async fn a_review_match_links_the_record_and_pins_it() {
    let app = spawn_app().await;
    let married = json!({
        "localId": "A", "firstName": "Elena", "lastName": "Munteanu", "birthDate": "1979-02-11",
        "sex": "F", "phone": "069123456", "address": {"locality": "Bălţi", "street": "Independenţei", "house": "5"}
    });
    // A maiden name with only the birth year: a human decides. (With the same first name and
    // birth date, a new surname alone is a marriage, linked automatically.)
    let mut maiden = married.clone();
    maiden["localId"] = json!("B");
    maiden["lastName"] = json!("Ţurcanu");
    maiden["birthDate"] = json!("1979");
    let first = register(&app, "social", married).await;
    let second = register(&app, "police", maiden).await;
    assert_eq!(second["outcome"], "review", "{second}");
    let review_id = second["reviewId"].as_str().unwrap();
    let entry = post_ok(
        &app,
        &format!("/api/v1/persons/reviews/{review_id}/decision"),
        json!({"verdict": "match"}),
    )
    .await;
    assert_eq!(entry["action"], "review-match");
    let view = person(&app, first["personId"].as_str().unwrap()).await;
    let moved = view["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "police")
        .expect("linked by the reviewer");
    assert_eq!(moved["link"]["rule"], "review");
    assert_eq!(moved["link"]["pinned"], true);
}

#[tokio::test]
async fn merge_then_unmerge_restores_both_persons_exactly() {
    let app = spawn_app().await;
    let a = register(&app, "social", ion("1")).await;
    register(&app, "health", ion("2")).await;
    let b = register(
        &app,
        "social",
        json!({"localId": "9", "firstName": "Vasile", "lastName": "Lungu", "birthDate": "1950"}),
    )
    .await;
    let (a_id, b_id) = (
        a["personId"].as_str().unwrap(),
        b["personId"].as_str().unwrap(),
    );
    let before = (person(&app, a_id).await, person(&app, b_id).await);

    let merge = post_ok(
        &app,
        &format!("/api/v1/persons/{a_id}/merge"),
        json!({"personId": b_id}),
    )
    .await;
    assert_eq!(merge["action"], "merge");
    let merged = person(&app, b_id).await;
    assert_eq!(merged["status"], "merged");
    assert_eq!(merged["mergedInto"], a_id);
    assert_eq!(
        person(&app, a_id).await["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let unmerge = post_ok(
        &app,
        &format!("/api/v1/persons/{a_id}/unmerge"),
        json!({"personId": b_id}),
    )
    .await;
    assert_eq!(unmerge["action"], "undo");
    assert_eq!(unmerge["undoes"], merge["id"]);
    let after = (person(&app, a_id).await, person(&app, b_id).await);
    assert_eq!(after, before);

    let history: Value = app
        .get(&format!("/api/v1/persons/{b_id}/history"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["register", "merge", "undo"]);
    assert_eq!(history["entries"][1]["undoneBy"], unmerge["id"]);
    let twice = app
        .post_json(
            &format!(
                "/api/v1/persons/history/{}/undo",
                merge["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_problem(twice, 409, "caller.already_undone").await;
}

#[tokio::test]
async fn unlink_and_its_undo_and_human_decisions_outlive_automatic_matching() {
    let app = spawn_app().await;
    let a = register(&app, "social", ion("1")).await;
    let linked = register(&app, "health", ion("2")).await;
    assert_eq!(linked["personId"], a["personId"]);
    let a_id = a["personId"].as_str().unwrap();
    let unlink = post_ok(
        &app,
        &format!("/api/v1/persons/{a_id}/unlink"),
        json!({"source": "health", "localId": "2"}),
    )
    .await;
    let new_person = unlink["changes"]["records"][0]["after"]["person"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_person, a_id);
    // The same record sent again stays where the human put it.
    let again = register(&app, "health", ion("2")).await;
    assert_eq!(again["personId"], new_person.as_str());
    // The last record of a person cannot be unlinked.
    let only = app
        .post_json(
            &format!("/api/v1/persons/{new_person}/unlink"),
            &json!({"source": "health", "localId": "2"}),
        )
        .await;
    assert_problem(only, 409, "caller.only_record").await;
    // Undoing the unlink puts the record back.
    let undo = post_ok(
        &app,
        &format!(
            "/api/v1/persons/history/{}/undo",
            unlink["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(undo["action"], "undo");
    assert_eq!(
        person(&app, a_id).await["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn different_valid_idnps_are_flagged_never_merged_silently_and_a_suspect_idnp_is_weak() {
    let app = spawn_app().await;
    let a = register(&app, "social", ion("1")).await;
    let mut other = ion("2");
    other["idnp"] = json!("2000000000026");
    let b = register(&app, "health", other).await;
    assert_ne!(b["personId"], a["personId"]);
    assert_eq!(b["outcome"], "review");
    let review: Value = app
        .get("/api/v1/persons/reviews")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        review["reviews"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("IDNP")
    );
    let (a_id, b_id) = (
        a["personId"].as_str().unwrap(),
        b["personId"].as_str().unwrap(),
    );
    let refused = app
        .post_json(
            &format!("/api/v1/persons/{a_id}/merge"),
            &json!({"personId": b_id}),
        )
        .await;
    assert_problem(refused, 409, "caller.idnp_conflict").await;
    post_ok(
        &app,
        &format!("/api/v1/persons/{a_id}/merge"),
        json!({"personId": b_id, "acknowledgeIdnpConflict": true}),
    )
    .await;
    assert_eq!(person(&app, a_id).await["conflicts"], json!(["idnp"]));

    // A typo that breaks the check digit is suspect: with nothing else agreeing it links nothing.
    let suspect = json!({"localId": "x", "idnp": "2000000000016", "firstName": "Petru", "lastName": "Bivol", "birthDate": "1999-01-01"});
    let matched = post_ok(&app, "/api/v1/persons/match", json!({"record": suspect})).await;
    assert_eq!(matched["outcome"], "no-match", "{matched}");
}

#[tokio::test]
async fn concurrent_registrations_of_one_new_person_make_one_person() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/persons/records", app.address);
        tasks.push(tokio::spawn(async move {
            let body = json!({"source": format!("source-{n}"), "record": ion(&format!("L{n}"))});
            let response = client.post(url).json(&body).send().await.unwrap();
            let answer: Value = response.json().await.unwrap();
            answer["personId"].as_str().unwrap().to_owned()
        }));
    }
    let mut persons = Vec::new();
    for task in tasks {
        persons.push(task.await.unwrap());
    }
    persons.dedup();
    assert_eq!(persons.len(), 1, "{persons:?}");
    assert_eq!(
        person(&app, &persons[0]).await["records"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}

#[tokio::test]
async fn bad_records_and_missing_roles_get_problems_naming_the_cause() {
    let app = spawn_app().await;
    let bad = app
        .post_json(
            "/api/v1/persons/records",
            &json!({"source": "social", "record": {"localId": "1", "birthDate": "1980-02-30"}}),
        )
        .await;
    let problem = assert_problem(bad, 422, "caller.invalid_record").await;
    assert_eq!(problem["violations"][0]["pointer"], "/record/birthDate");
    let bad_source = app
        .post_json(
            "/api/v1/persons/records",
            &json!({"source": "Bad Source", "record": {"localId": "1"}}),
        )
        .await;
    assert_problem(bad_source, 422, "caller.invalid_record").await;
    let unknown = app
        .get("/api/v1/persons/00000000-0000-0000-0000-000000000000")
        .await;
    assert_problem(unknown, 404, "caller.unknown_person").await;
    let benefits = client_with(&app.pki, &client_holder(DEMO_UNGRANTED_CLIENT));
    let denied = benefits
        .post(format!("{}/api/v1/persons/match", app.address))
        .json(&json!({"record": {"lastName": "Rusu"}}))
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "caller.access_denied").await;
}

#[tokio::test]
async fn an_exchange_can_name_its_subject_by_person_or_source_record() {
    let app = spawn_app().await;
    let subject = app.population.sample_subject();
    let record = json!({
        "localId": "C-1",
        "idnp": subject.idnp.expose(),
        "firstName": subject.first_name,
        "lastName": subject.last_name,
        "birthDate": subject.birth_date_text(),
    });
    let registered = register(&app, "social", record).await;
    let mut by_person = app.valid_request();
    by_person["subject"] = json!({"personId": registered["personId"]});
    let response = app.post_exchange(&by_person).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let mut by_record = app.valid_request();
    by_record["subject"] = json!({"source": "social", "localId": "C-1"});
    assert_eq!(app.post_exchange(&by_record).await.status(), 200);

    let without_idnp = register(
        &app,
        "police",
        json!({"localId": "P-1", "lastName": "Necunoscut"}),
    )
    .await;
    let mut request = app.valid_request();
    request["subject"] = json!({"personId": without_idnp["personId"]});
    assert_problem(
        app.post_exchange(&request).await,
        422,
        "caller.subject_without_idnp",
    )
    .await;
    request["subject"] = json!({"source": "police", "localId": "nobody"});
    assert_problem(
        app.post_exchange(&request).await,
        404,
        "caller.unknown_subject",
    )
    .await;
}

#[tokio::test]
async fn resolving_a_subject_through_the_index_needs_the_read_role() {
    let app = spawn_app().await;
    let subject = app.population.sample_subject();
    register(
        &app,
        "social",
        json!({"localId": "C-1", "idnp": subject.idnp.expose()}),
    )
    .await;
    let benefits = client_with(&app.pki, &client_holder(DEMO_UNGRANTED_CLIENT));
    let mut request = app.valid_request();
    request["service"] = json!("health.insurance-status");
    request["subject"] = json!({"source": "social", "localId": "C-1"});
    let refused = app.post_exchange_as(&benefits, &request).await;
    let problem = assert_problem(refused, 403, "caller.access_denied").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("master index"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_bad_value_sent_to_match_never_comes_back_in_the_answer() {
    let app = spawn_app().await;
    let cases = [
        (json!({"record": {"lastName": 7730412}}), "7730412", 422),
        (
            json!({"record": {"address": "str. Florilor 5, Cahul"}}),
            "Florilor",
            422,
        ),
        (
            json!({"record": {"firstName": "Ana", "patronymic": {"nume": "Zăpodeanu"}}}),
            "Zăpodeanu",
            422,
        ),
        (
            json!({"record": {"birthDate": "1980-02-30"}}),
            "1980-02-30",
            422,
        ),
        (
            json!({"record": {"idnp": "20000x0000015"}}),
            "20000x0000015",
            422,
        ),
        (
            json!({"record": {"lastName": "Rusu"}, "limit": "Rusu-Popescu"}),
            "Rusu-Popescu",
            400,
        ),
    ];
    for (body, value, status) in cases {
        let mut registration = body.clone();
        registration["source"] = json!("social");
        if let Some(record) = registration["record"].as_object_mut() {
            record.insert("localId".into(), json!("S-1"));
        }

        let matched = app.post_json("/api/v1/persons/match", &body).await;
        let registered = app
            .post_json("/api/v1/persons/records", &registration)
            .await;

        for (path, response) in [("match", matched), ("records", registered)] {
            assert_eq!(response.status().as_u16(), status, "{path}: {body}");
            let text = response.text().await.unwrap();
            assert!(
                !text.contains(value),
                "{path} echoes the value it refused: {text}"
            );
        }
    }
}
