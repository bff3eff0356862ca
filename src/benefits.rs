//! Benefits estimates pre-filled from registries, with the person's consent. A client records a
//! consent (who gave it, for what, on what legal basis, what proves it, until when); then, for
//! that person and within that consent, the hub fetches what the population register knows of
//! the household, with the person's own disability determination and those of the minor
//! children the person represents, through the normal exchange pipeline (each fetch an exchange of its own, with
//! the consent's purpose and legal basis, granted, logged and audited like any other) and returns
//! a draft household that says where each answer came from and what the caller must still
//! complete or correct. Recording and withdrawing a consent, and every refusal, are audited.

use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::exchange::{ExchangeFailure, ExchangeRequest, Exchanger, Mode, Purpose};
use crate::metrics::HubMetrics;
use esocial_benefits::{Catalog, Household, Member};
use esocial_store::{AuditEntryRow, ConsentRow, Store, Usage};
use esocial_wire::domain::Idnp;
use esocial_wire::domain::text::has_words;

/// Counts a use of the catalog: in the hub's metrics, and per day in the store so that the
/// counts survive a restart. Counts hold no personal data. A count the store cannot take is
/// logged; it never fails the page or the call it counts.
pub async fn count_use(store: &Store, metrics: &HubMetrics, usage: Usage<'_>) {
    match usage {
        Usage::View { benefit } => metrics.benefit_views.with_label_values(&[benefit]).inc(),
        Usage::Estimate { channel } => metrics
            .benefit_estimates
            .with_label_values(&[channel])
            .inc(),
    }
    let day = OffsetDateTime::now_utc().date().to_string();
    if let Err(error) = store.count_usage(&day, usage).await {
        tracing::warn!(%error, "a benefits usage count was not stored");
    }
}

/// The longest a consent may last.
const MAX_CONSENT: Duration = Duration::days(366);

/// What a caller got wrong, naming the field, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("`{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// No usable consent: unknown, another client's, withdrawn, not yet given or expired, or
    /// about someone else.
    #[error("no valid consent of this person for this client: {0}")]
    NoConsent(&'static str),
    /// A registry fetch failed; its problem is the answer.
    #[error("a registry fetch failed")]
    Exchange(ExchangeFailure),
    #[error("the store is unavailable")]
    Store(#[from] esocial_store::StoreError),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConsentError {
    ConsentError::Invalid {
        field,
        problem: problem.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubjectBody {
    idnp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallerBody {
    user_idnp: String,
}

/// `POST /api/v1/benefits/consents`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentBody {
    subject: SubjectBody,
    caller: CallerBody,
    purpose: String,
    legal_basis: String,
    evidence: String,
    given_at: String,
    expires_at: String,
}

/// `POST /api/v1/benefits/prefill`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefillBody {
    consent_id: String,
    subject: SubjectBody,
    caller: CallerBody,
    /// The day of the estimate; today when absent.
    date: Option<String>,
}

fn idnp(field: &'static str, raw: &str) -> Result<Idnp, ConsentError> {
    Idnp::parse(raw).map_err(|error| invalid(field, error.to_string()))
}

fn moment(field: &'static str, raw: &str) -> Result<OffsetDateTime, ConsentError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| invalid(field, "must be an RFC 3339 time, like 2025-06-01T09:30:00Z"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// An audit entry of a consent's life or of a refusal, about `subject_digest`.
fn entry(
    kind: &str,
    client: &str,
    subject_digest: &str,
    calling_user_digest: Option<String>,
    consent: Option<&ConsentRow>,
    outcome: &str,
    error_code: Option<&str>,
) -> AuditEntryRow {
    AuditEntryRow {
        entry_id: Uuid::now_v7().to_string(),
        kind: kind.into(),
        recorded_at: esocial_store::timestamp(now()),
        exchange_id: None,
        client_id: Some(client.into()),
        service: None,
        legal_basis: consent.map(|c| c.legal_basis.clone()),
        reason: consent.map(|c| format!("{} (consent {})", c.purpose, c.id)),
        case_id: None,
        calling_user_digest,
        subject_digest: Some(subject_digest.into()),
        person_id: None,
        outcome: outcome.into(),
        error_code: error_code.map(str::to_string),
        fields_released: None,
        request_digest: None,
        response_digest: None,
    }
}

/// Records a consent; its id.
pub async fn record_consent(
    exchanger: &Exchanger,
    client: &str,
    body: ConsentBody,
) -> Result<ConsentRow, ConsentError> {
    let subject = idnp("subject.idnp", &body.subject.idnp)?;
    let user = idnp("caller.userIdnp", &body.caller.user_idnp)?;
    for (field, text) in [
        ("purpose", &body.purpose),
        ("legalBasis", &body.legal_basis),
    ] {
        if !has_words(text) {
            return Err(invalid(field, "must state it in words"));
        }
    }
    if body.evidence.trim().is_empty() || body.evidence.len() > 500 {
        return Err(invalid(
            "evidence",
            "must say what proves the consent (a form's number, a document's id), in at most 500 characters",
        ));
    }
    let given = moment("givenAt", &body.given_at)?;
    let expires = moment("expiresAt", &body.expires_at)?;
    if given > now() + Duration::minutes(5) {
        return Err(invalid("givenAt", "is in the future"));
    }
    if expires <= given || expires - given > MAX_CONSENT {
        return Err(invalid(
            "expiresAt",
            "must be after `givenAt`, and at most 366 days after it",
        ));
    }
    let subject_digest = exchanger.digests(subject.expose()).remove(0);
    let consent = ConsentRow {
        id: Uuid::now_v7().to_string(),
        client_id: client.into(),
        subject_digest: subject_digest.clone(),
        purpose: body.purpose.trim().into(),
        legal_basis: body.legal_basis.trim().into(),
        evidence: body.evidence.trim().into(),
        given_at: esocial_store::timestamp(given),
        expires_at: esocial_store::timestamp(expires),
        recorded_at: esocial_store::timestamp(now()),
        withdrawn_at: None,
    };
    let user_digest = exchanger.digests(user.expose()).remove(0);
    exchanger
        .store()
        .record_consent(
            &consent,
            &entry(
                "benefits.consent",
                client,
                &subject_digest,
                Some(user_digest),
                Some(&consent),
                "ok",
                None,
            ),
        )
        .await?;
    Ok(consent)
}

/// Withdraws a consent the client recorded.
pub async fn withdraw_consent(
    exchanger: &Exchanger,
    client: &str,
    id: &str,
) -> Result<(), ConsentError> {
    let consent = exchanger
        .store()
        .consent(id)
        .await?
        .filter(|consent| consent.client_id == client)
        .ok_or(ConsentError::NoConsent(
            "the client recorded no such consent",
        ))?;
    let withdrawn = exchanger
        .store()
        .withdraw_consent(
            id,
            client,
            &esocial_store::timestamp(now()),
            &entry(
                "benefits.consent.withdrawn",
                client,
                &consent.subject_digest,
                None,
                Some(&consent),
                "ok",
                None,
            ),
        )
        .await?;
    if withdrawn {
        Ok(())
    } else {
        Err(ConsentError::NoConsent("the consent was withdrawn already"))
    }
}

/// The consent `id` if `client` may use it now for `subject`; a refusal is audited.
async fn usable_consent(
    exchanger: &Exchanger,
    client: &str,
    id: &str,
    subject: &Idnp,
) -> Result<ConsentRow, ConsentError> {
    let digests = exchanger.digests(subject.expose());
    let consent = exchanger.store().consent(id).await?;
    let reason = match &consent {
        None => Some("there is no consent with that id"),
        Some(c) if c.client_id != client => Some("the consent was recorded by another client"),
        Some(c) if !digests.contains(&c.subject_digest) => {
            Some("the consent is about another person")
        }
        Some(c) if c.withdrawn_at.is_some() => Some("the consent was withdrawn"),
        Some(c) if c.expires_at <= esocial_store::timestamp(now()) => {
            Some("the consent has expired")
        }
        Some(_) => None,
    };
    match (reason, consent) {
        (None, Some(consent)) => Ok(consent),
        (Some(reason), _) => {
            exchanger
                .store()
                .record_audit_entry(&entry(
                    "benefits.prefill",
                    client,
                    &digests[0],
                    None,
                    None,
                    "refused",
                    Some("caller.no_consent"),
                ))
                .await?;
            Err(ConsentError::NoConsent(reason))
        }
        (None, None) => unreachable!("no consent always has a reason"),
    }
}

/// One registry answer used in the draft: the field it filled, the service and the exchange.
fn source(field: &str, service: &str, exchange: &crate::exchange::ExchangeResult) -> Value {
    json!({
        "field": field,
        "service": service,
        "exchangeId": exchange.exchange_id,
        "registry": exchange.registry.as_ref().map(|r| r.name.clone()),
    })
}

/// The disability degree of `subject` in force on `day`, as the health registry determined it
/// (none when there is no determination or it has lapsed), and the exchange that asked.
async fn disability_on(
    exchanger: &Exchanger,
    client: &str,
    subject: Idnp,
    purpose: Purpose,
    user: &Idnp,
    day: time::Date,
) -> Result<(Option<String>, crate::exchange::ExchangeResult), ConsentError> {
    let determination = exchanger
        .run(
            client,
            ExchangeRequest {
                mode: Mode::Sync,
                service: "health.disability".into(),
                subject,
                purpose,
                calling_user: user.clone(),
                params: Default::default(),
                callback_url: None,
            },
        )
        .await
        .map_err(ConsentError::Exchange)?;
    let in_force = determination.data["hasDisability"] == json!(true)
        && determination.data["validUntil"]
            .as_str()
            .is_none_or(|until| until >= day.to_string().as_str());
    let degree = determination.data["degree"]
        .as_str()
        .filter(|_| in_force)
        .map(str::to_string);
    Ok((degree, determination))
}

/// Fetches the household of `subject` under the consent, and estimates it when it is complete.
pub async fn prefill(
    exchanger: &Exchanger,
    catalog: &Catalog,
    client: &str,
    body: PrefillBody,
) -> Result<Value, ConsentError> {
    let subject = idnp("subject.idnp", &body.subject.idnp)?;
    let user = idnp("caller.userIdnp", &body.caller.user_idnp)?;
    // The day of the estimate, for who is a minor and which determinations are
    // in force.
    let day = match &body.date {
        Some(text) => time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| invalid("date", "must be a date like 2025-06-30"))?,
        None => now().date(),
    };
    let consent = usable_consent(exchanger, client, &body.consent_id, &subject).await?;
    let purpose = Purpose {
        legal_basis: consent.legal_basis.clone(),
        reason: format!("{} (consent {})", consent.purpose, consent.id),
        case_id: None,
    };
    let fetch = |service: &str| ExchangeRequest {
        mode: Mode::Sync,
        service: service.into(),
        subject: subject.clone(),
        purpose: purpose.clone(),
        calling_user: user.clone(),
        params: Default::default(),
        callback_url: None,
    };
    let person = exchanger
        .run(client, fetch("civil.person-details"))
        .await
        .map_err(ConsentError::Exchange)?;
    let family = exchanger
        .run(client, fetch("civil.family-relations"))
        .await
        .map_err(ConsentError::Exchange)?;

    let mut members = vec![json!({
        "birthDate": person.data.get("birthDate").cloned().unwrap_or(Value::Null),
        "monthlyIncome": Value::Null,
        "studying": false,
    })];
    let mut sources = vec![source(
        "members[0].birthDate",
        "civil.person-details",
        &person,
    )];
    // The person's own disability determination, under their own consent.
    let (degree, determination) = disability_on(
        exchanger,
        client,
        subject.clone(),
        purpose.clone(),
        &user,
        day,
    )
    .await?;
    if let Some(degree) = degree {
        members[0]["disability"] = json!(degree);
    }
    sources.push(source(
        "members[0].disability",
        "health.disability",
        &determination,
    ));
    let mut asked_disability = vec![0];
    let mut to_complete = Vec::new();
    if family
        .data
        .get("spouse")
        .is_some_and(|spouse| !spouse.is_null())
    {
        let index = members.len();
        members.push(
            json!({ "birthDate": Value::Null, "monthlyIncome": Value::Null, "studying": false }),
        );
        sources.push(source(
            &format!("members[{index}]"),
            "civil.family-relations",
            &family,
        ));
        to_complete.push(json!({
            "field": format!("members[{index}].birthDate"),
            "why": "the spouse's own data is not fetched without the spouse's own consent",
        }));
    }
    for child in family
        .data
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = members.len();
        let birth = child.get("birthDate").and_then(Value::as_str);
        let mut member = json!({
            "birthDate": birth,
            "monthlyIncome": Value::Null,
            "studying": false,
        });
        sources.push(source(
            &format!("members[{index}].birthDate"),
            "civil.family-relations",
            &family,
        ));
        // A minor child's disability determination, asked as the child's legal
        // representative under the parent's consent; never an adult's.
        let minor = birth
            .and_then(|text| {
                time::Date::parse(
                    text,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .ok()
            })
            .is_some_and(|birth| birth > day.replace_year(day.year() - 18).unwrap_or(day));
        let child_idnp = child
            .get("idnp")
            .and_then(Value::as_str)
            .and_then(|raw| Idnp::parse(raw).ok());
        if let (true, Some(child_idnp)) = (minor, child_idnp) {
            let representative = Purpose {
                reason: format!(
                    "{} (consent {}, given by the parent as the minor's legal representative)",
                    consent.purpose, consent.id
                ),
                ..purpose.clone()
            };
            let (degree, determination) =
                disability_on(exchanger, client, child_idnp, representative, &user, day).await?;
            if let Some(degree) = degree {
                member["disability"] = json!(degree);
            }
            sources.push(source(
                &format!("members[{index}].disability"),
                "health.disability",
                &determination,
            ));
            asked_disability.push(index);
        }
        members.push(member);
    }
    for index in 0..members.len() {
        to_complete.push(json!({
            "field": format!("members[{index}].monthlyIncome"),
            "why": "no registry the hub reaches holds incomes; ask the person",
        }));
        to_complete.push(json!({
            "field": format!("members[{index}].studying"),
            "why": "full-time studies are not fetched; ask the person (it matters from 18 to 23)",
        }));
        if !asked_disability.contains(&index) {
            to_complete.push(json!({
                "field": format!("members[{index}].disability"),
                "why": "fetched only for the person and the minor children with an IDNP; give it if one was determined",
            }));
        }
    }
    let household = json!({ "date": body.date, "members": members });
    // An estimate only when every member has a date of birth; incomes may stay unknown.
    let complete: Option<Household> = members
        .iter()
        .map(|member| {
            Some(Member {
                birth_date: member["birthDate"].as_str()?.to_string(),
                monthly_income: None,
                studying: false,
                disability: serde_json::from_value(member["disability"].clone()).ok(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .map(|members| Household {
            date: body.date.clone(),
            members,
        });
    let mut estimate = None;
    if let Some(household) = complete {
        match esocial_benefits::estimate(catalog, &household, now().date()) {
            Ok(done) => estimate = Some(done),
            Err(error) => to_complete.push(json!({ "field": error.field, "why": error.problem })),
        }
    }
    Ok(json!({
        "consentId": consent.id,
        "household": household,
        "sources": sources,
        "toComplete": to_complete,
        "estimate": estimate,
        "notice": "A draft from registry data: correct or complete it, then POST it to /api/v1/benefits/estimate.",
    }))
}
