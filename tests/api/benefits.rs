//! The benefits estimator through the hub's API: a household in, every benefit's estimate out
//! with its trace and receipt; bad households answered with problem+json that names the field,
//! never its value; the catalog and each info sheet with their dated, sourced figures.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

fn family() -> Value {
    json!({
        "date": "2025-06-30",
        "members": [
            { "birthDate": "1990-03-10", "monthlyIncome": 1000 },
            { "birthDate": "1991-07-22", "monthlyIncome": 0 },
            { "birthDate": "2015-05-01", "monthlyIncome": 0 },
            { "birthDate": "2018-09-12", "monthlyIncome": 0 }
        ]
    })
}

fn benefit<'a>(estimate: &'a Value, id: &str) -> &'a Value {
    estimate["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {estimate}"))
}

#[tokio::test]
async fn an_estimate_explains_each_figure_and_names_its_rule_set() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/benefits/estimate", &family()).await;
    assert_eq!(response.status().as_u16(), 200);
    let estimate: Value = response.json().await.unwrap();
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid["outcome"], "eligible");
    assert_eq!(aid["amount"], 4702.0);
    let first = &aid["evaluations"][0]["trace"][0];
    assert_eq!(first["rule"], "venit-minim-familie");
    let figure = first["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "vlmg_adult")
        .unwrap();
    assert_eq!(figure["value"], 1749.0);
    assert_eq!(figure["parameter"]["from"], "2025-04-01");
    assert_eq!(figure["parameter"]["status"], "confirmed");
    assert!(
        estimate["notice"]["ro"]
            .as_str()
            .unwrap()
            .contains("nu este o decizie")
    );
    assert!(
        estimate["notice"]["ru"]
            .as_str()
            .unwrap()
            .contains("не решение")
    );
    let receipt = &estimate["receipt"];
    assert!(
        receipt["rulesetHash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(receipt["date"], "2025-06-30");

    // The same household again: the same receipt, so the estimate can be recomputed.
    let again: Value = app
        .post_json("/api/v1/benefits/estimate", &family())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipt"], estimate["receipt"]);
    assert_eq!(again["benefits"], estimate["benefits"]);

    let catalog: Value = app.get("/api/v1/benefits").await.json().await.unwrap();
    assert_eq!(catalog["hash"], receipt["rulesetHash"]);
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("esocial_hub_benefit_estimates_total{channel=\"api\"} 2"));
    assert_eq!(catalog["version"], receipt["rulesetVersion"]);
}

#[tokio::test]
async fn bad_households_are_refused_naming_the_field_not_the_value() {
    let app = spawn_app().await;
    let mut household = family();
    household["members"][2]["monthlyIncome"] = json!(-73519);
    let response = app.post_json("/api/v1/benefits/estimate", &household).await;
    let problem = assert_problem(response, 422, "caller.invalid_household").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("members[2].monthlyIncome")
    );
    assert_eq!(
        problem["violations"][0]["pointer"],
        "/members/2/monthlyIncome"
    );
    assert!(!problem.to_string().contains("73519"), "{problem}");

    let mut household = family();
    household["members"][0]["birthDate"] = json!("10.03.1990");
    let response = app.post_json("/api/v1/benefits/estimate", &household).await;
    let problem = assert_problem(response, 422, "caller.invalid_household").await;
    assert!(!problem.to_string().contains("10.03.1990"), "{problem}");

    let mut household = family();
    household["members"][0]["salary"] = json!("secret-91417");
    let response = app.post_json("/api/v1/benefits/estimate", &household).await;
    let problem = assert_problem(response, 400, "caller.malformed_household").await;
    assert!(!problem.to_string().contains("91417"), "{problem}");

    let mut household = family();
    household["members"][1]["monthlyIncome"] = json!("sixty-two-thousand");
    let response = app.post_json("/api/v1/benefits/estimate", &household).await;
    let problem = assert_problem(response, 400, "caller.malformed_household").await;
    assert!(!problem.to_string().contains("sixty"), "{problem}");
}

#[tokio::test]
async fn each_sheet_gives_its_legal_basis_and_every_figure_with_its_source() {
    let app = spawn_app().await;
    let catalog: Value = app.get("/api/v1/benefits").await.json().await.unwrap();
    let ids: Vec<&str> = catalog["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"ajutor-social") && ids.contains(&"indemnizatie-unica-nastere"));
    for id in ids {
        let sheet: Value = app
            .get(&format!("/api/v1/benefits/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let benefit = &sheet["benefit"];
        for language in ["ro", "ru"] {
            assert!(
                !benefit["sheet"][language]["summary"]
                    .as_str()
                    .unwrap()
                    .is_empty()
            );
            assert!(!benefit["name"][language].as_str().unwrap().is_empty());
        }
        assert!(
            !benefit["legalBasis"].as_array().unwrap().is_empty(),
            "{id}"
        );
        for parameter in sheet["parameters"].as_array().unwrap() {
            for value in parameter["value"].as_array().unwrap() {
                assert!(value["url"].as_str().unwrap().starts_with("http"), "{id}");
                assert!(
                    ["confirmed", "draft", "unconfirmed"]
                        .contains(&value["status"].as_str().unwrap())
                );
            }
        }
    }
    let unknown = app.get("/api/v1/benefits/no-such-benefit").await;
    assert_problem(unknown, 404, "caller.unknown_benefit").await;
}

/// A consent given yesterday for half a year.
fn consent_for(idnp: &str, user: &str) -> Value {
    use time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    let given = (now - time::Duration::days(1)).format(&Rfc3339).unwrap();
    let expires = (now + time::Duration::days(180)).format(&Rfc3339).unwrap();
    json!({
        "subject": { "idnp": idnp },
        "caller": { "userIdnp": user },
        "purpose": "Estimarea prestațiilor sociale la cererea persoanei",
        "legalBasis": "Legea nr. 133/2020 privind protecția datelor, art. 5 alin. (1) lit. a) (consimțământ)",
        "evidence": "Formular de consimțământ nr. 2025-117, semnat",
        "givenAt": given,
        "expiresAt": expires
    })
}

#[tokio::test]
async fn with_consent_the_household_is_drafted_from_registries_through_audited_exchanges() {
    let app = spawn_app().await;
    let subject = app.population.sample_subject();
    let idnp = subject.idnp.expose().to_string();
    let user = app.population.persons()[1].idnp.expose().to_string();
    let prefill = |consent: &str| {
        json!({
            "consentId": consent,
            "subject": { "idnp": idnp },
            "caller": { "userIdnp": user },
            "date": "2025-06-30"
        })
    };

    // Without a consent: refused, and the refusal is audited.
    let refused = app
        .post_json("/api/v1/benefits/prefill", &prefill("no-such-consent"))
        .await;
    assert_problem(refused, 403, "caller.no_consent").await;

    let response = app
        .post_json("/api/v1/benefits/consents", &consent_for(&idnp, &user))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let consent: Value = response.json().await.unwrap();
    let consent_id = consent["consentId"].as_str().unwrap().to_string();

    let response = app
        .post_json("/api/v1/benefits/prefill", &prefill(&consent_id))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let draft: Value = response.json().await.unwrap();
    let (year, month, day) = subject.birth_date;
    let birth = format!("{year:04}-{month:02}-{day:02}");
    assert_eq!(
        draft["household"]["members"][0]["birthDate"],
        birth.as_str()
    );
    let sources = draft["sources"].as_array().unwrap();
    assert_eq!(sources[0]["field"], "members[0].birthDate");
    assert_eq!(sources[0]["service"], "civil.person-details");
    // The sample subject (the synthetic population is the same on every run) has a spouse,
    // whose birth date is not fetched, and three minor children. The person's own disability
    // determination is fetched under their consent, and each child's as their legal
    // representative; one of the children's is in force.
    let members = draft["household"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 5, "{draft}");
    assert!(members[1]["birthDate"].is_null());
    let determinations: Vec<&Value> = sources
        .iter()
        .filter(|source| source["service"] == "health.disability")
        .collect();
    assert_eq!(determinations.len(), 4, "{draft}");
    assert_eq!(determinations[0]["field"], "members[0].disability");
    assert_eq!(
        members[0]["disability"].is_string(),
        subject.disability.is_some(),
        "{draft}"
    );
    assert_eq!(
        members[2..]
            .iter()
            .filter(|m| m["disability"].is_string())
            .count(),
        1,
        "{draft}"
    );
    let reason_of = |source: &Value| {
        let id = uuid::Uuid::parse_str(source["exchangeId"].as_str().unwrap()).unwrap();
        let store = app.store.clone();
        async move { store.exchange(id).await.unwrap().unwrap().reason }
    };
    let own = reason_of(determinations[0]).await;
    assert!(!own.contains("legal representative"), "{own}");
    let childs = reason_of(determinations[1]).await;
    assert!(childs.contains("legal representative"), "{childs}");
    assert!(
        draft["toComplete"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["field"] == "members[0].monthlyIncome"),
        "incomes are for the person to give"
    );
    // Each answer came through an exchange of its own, logged with the consent's basis.
    for source in sources {
        let id = source["exchangeId"].as_str().unwrap();
        let exchange: Value = app
            .get(&format!("/api/v1/exchanges/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(exchange["status"], "completed", "{exchange}");
    }
    let exchange_id = sources[0]["exchangeId"].as_str().unwrap();
    let record = app
        .store
        .exchange(uuid::Uuid::parse_str(exchange_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(record.legal_basis.contains("consimțământ"));
    assert!(record.reason.contains(&consent_id));

    // Withdrawn: refused again.
    let withdrawn = app
        .client
        .delete(format!(
            "{}/api/v1/benefits/consents/{consent_id}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status().as_u16(), 204);
    let refused = app
        .post_json("/api/v1/benefits/prefill", &prefill(&consent_id))
        .await;
    let problem = assert_problem(refused, 403, "caller.no_consent").await;
    assert!(problem["detail"].as_str().unwrap().contains("withdrawn"));

    // A consent is about one person: not usable for another.
    let other = app.population.persons()[7].idnp.expose().to_string();
    let response = app
        .post_json("/api/v1/benefits/consents", &consent_for(&idnp, &user))
        .await;
    let fresh: Value = response.json().await.unwrap();
    let mut elsewhere = prefill(fresh["consentId"].as_str().unwrap());
    elsewhere["subject"]["idnp"] = json!(other);
    let refused = app.post_json("/api/v1/benefits/prefill", &elsewhere).await;
    let problem = assert_problem(refused, 403, "caller.no_consent").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("another person")
    );
    assert!(!problem.to_string().contains(&other));

    // A bad consent names the field, not the value.
    let mut bad = consent_for(&idnp, &user);
    bad["expiresAt"] = json!("2024-01-01T00:00:00Z");
    let problem = assert_problem(
        app.post_json("/api/v1/benefits/consents", &bad).await,
        422,
        "caller.invalid_request",
    )
    .await;
    assert_eq!(problem["violations"][0]["pointer"], "/expiresAt");
}
