//! The benefits catalog and the estimator: `GET /api/v1/benefits` lists the benefits and the
//! life situations, `GET /api/v1/benefits/{id}` gives one info sheet with its legal basis and
//! every dated figure with its source, and `POST /api/v1/benefits/estimate` estimates every
//! benefit for a household, explaining each figure. The household names no one and nothing of
//! it is kept; an estimate is never a decision. With a person's recorded consent
//! (`/api/v1/benefits/consents`), `POST /api/v1/benefits/prefill` drafts the household from
//! registry data (`crate::benefits`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::ApiState;
use crate::api::exchanges::{caller, read_limited};
use crate::api::problem::Problem;
use crate::benefits::{ConsentBody, ConsentError, PrefillBody};
use crate::exchange::{ExchangeFailure, Fault};
use esocial_benefits::{Household, estimate as estimate_household};
use esocial_catalog::json_schema::Violation;
use esocial_store::Usage;

/// A refused field (`code`), pointed at and named, never quoted.
fn invalid_field(code: &str, field: &str, problem: &str) -> HttpResponse {
    let mut answer = Problem::new(
        422,
        code,
        Fault::Caller,
        false,
        format!("`{field}` {problem}"),
    );
    answer.violations = vec![Violation {
        pointer: crate::api::problem::field_pointer("", field),
        message: problem.to_string(),
    }];
    answer.response()
}

/// `GET /api/v1/benefits`: the catalog's benefits, its life situations and its version.
pub async fn list(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let catalog = &state.benefits;
    let benefits: Vec<Value> = catalog
        .benefits
        .iter()
        .map(|benefit| {
            json!({
                "id": benefit.id,
                "name": benefit.name,
                "situations": benefit.situations,
                "period": benefit.period,
                "sheet": format!("/api/v1/benefits/{}", benefit.id),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "version": catalog.version,
        "hash": catalog.hash,
        "situations": catalog.situations,
        "benefits": benefits,
    })))
}

/// `GET /api/v1/benefits/{id}`: one benefit's info sheet, legal basis, rules and figures.
pub async fn sheet(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let catalog = &state.benefits;
    let Some(benefit) = catalog.benefit(&path) else {
        return Ok(Problem::new(
            404,
            "caller.unknown_benefit",
            Fault::Caller,
            false,
            "the catalog has no such benefit; GET /api/v1/benefits lists them".into(),
        )
        .response());
    };
    let parameters = catalog.parameters_of(benefit);
    Ok(HttpResponse::Ok().json(json!({
        "version": catalog.version,
        "benefit": benefit,
        "parameters": parameters,
    })))
}

/// `POST /api/v1/benefits/estimate`: every benefit's estimate for the household in the body.
pub async fn estimate(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let bytes = read_limited(payload, &state).await?;
    let household: Household = match parse_body(
        &bytes,
        "caller.malformed_household",
        "a household (`date`, `members` with `birthDate`, `monthlyIncome`, `studying`)",
    ) {
        Ok(household) => household,
        Err(refusal) => return Ok(*refusal),
    };
    let today = OffsetDateTime::now_utc().date();
    match estimate_household(&state.benefits, &household, today) {
        Ok(estimate) => {
            crate::benefits::count_use(
                state.exchanger.store(),
                state.exchanger.metrics(),
                Usage::Estimate { channel: "api" },
            )
            .await;
            Ok(HttpResponse::Ok().json(estimate))
        }
        Err(error) => Ok(invalid_field(
            "caller.invalid_household",
            &error.field,
            &error.problem,
        )),
    }
}

/// The answer to a consent or pre-fill request that failed.
fn consent_failure(error: ConsentError) -> Result<HttpResponse, ExchangeFailure> {
    match error {
        ConsentError::Invalid { field, problem } => {
            Ok(invalid_field("caller.invalid_request", field, &problem))
        }
        ConsentError::NoConsent(reason) => Ok(Problem::new(
            403,
            "caller.no_consent",
            Fault::Caller,
            false,
            format!("no valid consent of this person for this client: {reason}"),
        )
        .response()),
        ConsentError::Exchange(failure) => Err(failure),
        ConsentError::Store(_) => Ok(Problem::new(
            503,
            "hub.store_unavailable",
            Fault::Hub,
            true,
            "the store is unavailable; nothing was recorded".into(),
        )
        .response()),
    }
}

/// The body as `T`, or the answer that refuses it (`code`), saying where, never quoting it:
/// the parser's own message may hold the value.
fn parse_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    code: &str,
    what: &str,
) -> Result<T, Box<HttpResponse>> {
    serde_json::from_slice(bytes).map_err(|error| Box::new(malformed(code, &error, what)))
}

/// A body the parser refused (`code`), said without quoting it.
fn malformed(code: &str, error: &serde_json::Error, what: &str) -> HttpResponse {
    Problem::new(
        400,
        code,
        Fault::Caller,
        false,
        format!(
            "the body is not {what}: {} at line {}, column {}",
            match error.classify() {
                serde_json::error::Category::Data => {
                    "a field is unknown, missing or of the wrong type"
                }
                _ => "it is not valid JSON",
            },
            error.line(),
            error.column()
        ),
    )
    .response()
}

/// `POST /api/v1/benefits/consents`: records a person's consent to pre-fill estimates.
pub async fn record_consent(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let bytes = read_limited(payload, &state).await?;
    let body: ConsentBody = match parse_body(&bytes, "caller.malformed_request", "a consent") {
        Ok(body) => body,
        Err(refusal) => return Ok(*refusal),
    };
    match crate::benefits::record_consent(&state.exchanger, &client, body).await {
        Ok(consent) => Ok(HttpResponse::Created().json(json!({
            "consentId": consent.id,
            "givenAt": consent.given_at,
            "expiresAt": consent.expires_at,
        }))),
        Err(error) => consent_failure(error),
    }
}

/// `DELETE /api/v1/benefits/consents/{id}`: withdraws a consent the client recorded.
pub async fn withdraw_consent(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    match crate::benefits::withdraw_consent(&state.exchanger, &client, &path).await {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(error) => consent_failure(error),
    }
}

/// `POST /api/v1/benefits/prefill`: a draft household from registry data, under a consent.
pub async fn prefill(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let bytes = read_limited(payload, &state).await?;
    let body: PrefillBody =
        match parse_body(&bytes, "caller.malformed_request", "a pre-fill request") {
            Ok(body) => body,
            Err(refusal) => return Ok(*refusal),
        };
    match crate::benefits::prefill(&state.exchanger, &state.benefits, &client, body).await {
        Ok(draft) => Ok(HttpResponse::Ok().json(draft)),
        Err(error) => consent_failure(error),
    }
}
