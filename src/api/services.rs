//! Discovery and contracts, in the spirit of X-Road's metaservices: what services exist, which
//! the caller may use, each service's contract, contract validation, and the hub's OpenAPI.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiState;
use crate::api::exchanges::{caller, read_limited};
use crate::exchange::{ExchangeError, ExchangeFailure};
use esocial_catalog::ContractPart;

fn summary_json(summary: &esocial_catalog::ServiceSummary) -> Value {
    json!({
        "id": summary.id,
        "registry": summary.registry,
        "title": summary.title,
        "transport": summary.transport,
        "sensitive": summary.sensitive,
        "contract": format!("/api/v1/services/{}/contract", summary.id),
    })
}

/// `GET /api/v1/services`: every service of the catalog.
pub async fn list(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let services: Vec<Value> = state
        .exchanger
        .catalog()
        .summaries()
        .iter()
        .map(summary_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "services": services })))
}

/// `GET /api/v1/services/allowed`: the services the calling client holds a grant for.
pub async fn allowed(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let access = state.exchanger.access();
    let services: Vec<Value> = state
        .exchanger
        .catalog()
        .summaries()
        .iter()
        .filter_map(|summary| {
            let grant = access.grant(&client, &summary.id)?;
            let mut value = summary_json(summary);
            value["fields"] = json!(grant.fields);
            Some(value)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "services": services })))
}

/// The contract of a registry service or composite, or a 404 naming it.
fn contract_of<'a>(
    state: &'a ApiState,
    id: &str,
) -> Result<&'a esocial_catalog::ServiceContract, ExchangeError> {
    state
        .exchanger
        .catalog()
        .contract(id)
        .ok_or_else(|| ExchangeError::UnknownService(id.to_string()))
}

/// `GET /api/v1/services/{id}/contract`: the request and response schemas and the registry's
/// wire contract.
pub async fn contract(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let id = path.into_inner();
    let contract = contract_of(&state, &id)?;
    let wire = match &contract.wire {
        Some(wire) => json!({"type": wire.kind, "document": wire.document}),
        None => json!({"type": "none", "document": ""}),
    };
    Ok(HttpResponse::Ok().json(json!({
        "service": id,
        "request": contract.request_schema,
        "response": contract.response_schema,
        "wire": wire,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    kind: ContractPart,
    document: Value,
}

/// `POST /api/v1/contracts/{id}/validate`: every violation of a document, with its pointer.
pub async fn validate(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    caller(&request, &state)?;
    let id = path.into_inner();
    let contract = contract_of(&state, &id)?;
    let bytes = read_limited(payload, &state).await?;
    let body: ValidateBody = serde_json::from_slice(&bytes)
        .map_err(|error| ExchangeError::MalformedJson(error.to_string()))?;
    let violations = contract
        .validate(body.kind, &body.document)
        .err()
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({
        "valid": violations.is_empty(),
        "violations": violations,
    })))
}

/// `GET /openapi.json`: the hub's own API contract.
pub async fn openapi(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}
