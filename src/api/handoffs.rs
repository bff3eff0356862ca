//! Referrals and transfers over HTTP: `POST /api/v1/referrals` and `/api/v1/transfers` (with
//! an `Idempotency-Key`), `GET /api/v1/handoffs/{id}` for either side or an operator, and
//! `POST /api/v1/handoffs/{id}/decision` for the receiver.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::api::ApiState;
use crate::api::events::{Refused, problem};
use crate::api::exchanges::read_limited;
use crate::handoffs::{DecisionBody, HandoffError, HandoffKind, Handoffs};
use esocial_store::HandoffRow;
use esocial_wire::crypto::tls::ClientIdentity;

fn handoffs_of(state: &ApiState) -> Result<&Handoffs, Refused> {
    state.handoffs.as_ref().ok_or_else(|| {
        problem(
            404,
            "caller.no_such_endpoint",
            false,
            "this hub takes no referrals or transfers (no [handoffs] section)",
        )
    })
}

fn client(request: &HttpRequest) -> Result<String, Refused> {
    request
        .conn_data::<ClientIdentity>()
        .map(|identity| identity.common_name.clone())
        .ok_or_else(|| {
            problem(
                401,
                "caller.no_client_certificate",
                false,
                "a client certificate is required",
            )
        })
}

fn refused(error: HandoffError) -> Refused {
    let (status, code) = error.status_and_code();
    problem(status, code, status == 503, error.to_string())
}

/// The `Idempotency-Key` header: required, 1 to 200 visible ASCII characters.
fn idempotency_key(request: &HttpRequest) -> Result<String, Refused> {
    request
        .headers()
        .get("Idempotency-Key")
        .and_then(|value| value.to_str().ok())
        .filter(|key| (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| {
            problem(
                400,
                "caller.missing_idempotency_key",
                false,
                "an Idempotency-Key header of 1 to 200 visible ASCII characters is required, so that a retry is not a second hand-off",
            )
        })
}

fn handoff_json(row: &HandoffRow) -> serde_json::Value {
    let time = |millis: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map(esocial_store::timestamp)
            .ok()
    };
    json!({
        "id": row.id,
        "kind": row.kind,
        "from": row.sender,
        "to": row.receiver,
        "caseId": row.case_id,
        "state": row.state,
        "documentDigest": row.document_digest,
        "createdAt": time(row.created_at),
        "respondBy": time(row.respond_by),
        "receivedAt": row.received_at.and_then(time),
        "decidedAt": row.decided_at.and_then(time),
        "decisionReason": row.decision_reason,
        "escalatedAt": row.escalated_at.and_then(time),
        "documentHeld": row.document_held,
    })
}

async fn send(
    kind: HandoffKind,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let handoffs = handoffs_of(&state)?;
    let client = client(&request)?;
    let key = idempotency_key(&request)?;
    let body = read_limited(payload, &state).await.map_err(|failure| {
        problem(
            failure.error.http_status(),
            failure.error.code(),
            false,
            failure.error.to_string(),
        )
    })?;
    let (row, new) = handoffs
        .send(kind, &client, &key, &body)
        .await
        .map_err(refused)?;
    let mut answer = handoff_json(&row);
    answer["repeated"] = json!(!new);
    Ok(if new {
        HttpResponse::Created().json(answer)
    } else {
        HttpResponse::Ok().json(answer)
    })
}

/// `POST /api/v1/referrals`: an agency refers a beneficiary to a service provider.
pub async fn refer(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    send(HandoffKind::Referral, request, payload, state).await
}

/// `POST /api/v1/transfers`: an agency hands a case file to another agency.
pub async fn transfer(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    send(HandoffKind::Transfer, request, payload, state).await
}

/// `GET /api/v1/handoffs/{id}`: where a hand-off stands.
pub async fn status(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let handoffs = handoffs_of(&state)?;
    let client = client(&request)?;
    let row = handoffs.status(&client, &path).await.map_err(refused)?;
    Ok(HttpResponse::Ok().json(handoff_json(&row)))
}

/// `POST /api/v1/handoffs/{id}/decision`: the receiver accepts or declines.
pub async fn decide(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let handoffs = handoffs_of(&state)?;
    let client = client(&request)?;
    let body = read_limited(payload, &state).await.map_err(|failure| {
        problem(
            failure.error.http_status(),
            failure.error.code(),
            false,
            failure.error.to_string(),
        )
    })?;
    let decision: DecisionBody = serde_json::from_slice(&body).map_err(|_| {
        problem(
            422,
            "caller.invalid_request",
            false,
            "the body must be {\"decision\": \"accepted\" | \"declined\", \"reason\": \"...\"}",
        )
    })?;
    let row = handoffs
        .decide(&client, &path, &decision)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(handoff_json(&row)))
}
