//! The benefits catalog and the estimator: `GET /api/v1/benefits` lists the benefits and the
//! life situations, `GET /api/v1/benefits/{id}` gives one info sheet with its legal basis and
//! every dated figure with its source, and `POST /api/v1/benefits/estimate` estimates every
//! benefit for a household, explaining each figure. The household names no one and nothing of
//! it is kept; an estimate is never a decision.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::ApiState;
use crate::api::exchanges::{caller, read_limited};
use crate::api::problem::Problem;
use crate::exchange::{ExchangeFailure, Fault};
use esocial_benefits::{Household, estimate as estimate_household};
use esocial_catalog::json_schema::Violation;

fn invalid_household(field: &str, problem: &str) -> HttpResponse {
    let mut answer = Problem::new(
        422,
        "caller.invalid_household",
        Fault::Caller,
        false,
        format!("`{field}` {problem}"),
    );
    answer.violations = vec![Violation {
        pointer: format!(
            "/{}",
            field.replace('[', "/").replace("].", "/").replace(']', "")
        ),
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
    // The figures its rules use, its own and shared ones.
    let mut names: Vec<&str> = benefit
        .rule
        .iter()
        .flat_map(|rule| rule.uses.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let parameters: Vec<_> = names
        .into_iter()
        .filter_map(|name| catalog.parameter(benefit, name))
        .collect();
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
    let household: Household = match serde_json::from_slice(&bytes) {
        Ok(household) => household,
        // The parser's message may quote the value; say where, not what.
        Err(error) => {
            return Ok(Problem::new(
                400,
                "caller.malformed_household",
                Fault::Caller,
                false,
                format!(
                    "the body is not a household (`date`, `members` with `birthDate`, \
                     `monthlyIncome`, `studying`): {} at line {}, column {}",
                    match error.classify() {
                        serde_json::error::Category::Data =>
                            "a field is unknown, missing or of the wrong type",
                        _ => "it is not valid JSON",
                    },
                    error.line(),
                    error.column()
                ),
            )
            .response());
        }
    };
    let today = OffsetDateTime::now_utc().date();
    match estimate_household(&state.benefits, &household, today) {
        Ok(estimate) => Ok(HttpResponse::Ok().json(estimate)),
        Err(error) => Ok(invalid_household(&error.field, &error.problem)),
    }
}
