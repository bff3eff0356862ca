//! The events flow over HTTP: `/ce/produce/event` and `/ce/produce/events`, where registries
//! push CloudEvents as MConnect Events' producers do (a batch is taken whole or not at all),
//! and the operators' view of events in review, dead events and deliveries, and their replay.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

use crate::api::ApiState;
use crate::api::exchanges::operator;
use crate::api::problem::Problem;
use crate::events::{Channel, Events, Refusal};
use crate::exchange::Fault;
use esocial_catalog::json_schema::Violation;
use esocial_store::{Intake, Parked};
use esocial_wire::crypto::tls::ClientIdentity;
use esocial_wire::mconnect::cloudevent::{
    BATCH_MEDIA_TYPE, CloudEvent, EVENT_MEDIA_TYPE, MAX_REQUEST_BYTES,
};

/// Most rows an operator's list gives.
const LIST_LIMIT: i64 = 500;

/// A refusal of this module's endpoints, answered as problem+json.
#[derive(Debug)]
pub struct Refused(Box<Problem>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.code)
    }
}

impl actix_web::ResponseError for Refused {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.0.response()
    }
}

pub(crate) fn problem(
    status: u16,
    code: &str,
    retryable: bool,
    detail: impl Into<String>,
) -> Refused {
    let fault = match code.split('.').next() {
        Some("hub") => Fault::Hub,
        _ => Fault::Caller,
    };
    Refused(Box::new(Problem::new(
        status,
        code,
        fault,
        retryable,
        detail.into(),
    )))
}

fn events_of(state: &ApiState) -> Result<&Events, Refused> {
    state.events.as_ref().ok_or_else(|| {
        problem(
            404,
            "caller.no_such_endpoint",
            false,
            "this hub takes no events (no [events] section)",
        )
    })
}

/// The producer behind this connection: its certificate's common name, if it is one.
fn producer(request: &HttpRequest, events: &Events) -> Result<String, Refused> {
    let Some(identity) = request.conn_data::<ClientIdentity>() else {
        return Err(problem(
            401,
            "caller.no_client_certificate",
            false,
            "a client certificate is required",
        ));
    };
    if !events.is_producer(&identity.common_name) {
        return Err(problem(
            403,
            "caller.not_a_producer",
            false,
            format!(
                "`{}` is not allowed to publish events",
                identity.common_name
            ),
        ));
    }
    Ok(identity.common_name.clone())
}

/// Reads the body, refusing a wrong media type (415) or more than MConnect Events' request
/// limit (413) before reading further.
async fn body(
    request: &HttpRequest,
    mut payload: web::Payload,
    media_type: &str,
    state: &ApiState,
) -> Result<web::BytesMut, Refused> {
    let declared = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if declared != Some(media_type) {
        return Err(problem(
            415,
            "caller.unsupported_media_type",
            false,
            format!("the body must be `{media_type}`"),
        ));
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                problem(
                    400,
                    "caller.malformed_body",
                    false,
                    "the body could not be read",
                )
            })?;
            if body.len() + chunk.len() > MAX_REQUEST_BYTES {
                return Err(problem(
                    413,
                    "caller.body_too_large",
                    false,
                    format!("a request carries at most {MAX_REQUEST_BYTES} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(state.body_read_timeout, read)
        .await
        .map_err(|_| {
            problem(
                408,
                "caller.request_timeout",
                true,
                "the body did not arrive in time",
            )
        })?
}

fn refused(refusal: Refusal) -> Refused {
    match refusal {
        Refusal::Invalid {
            problem: detail,
            violations,
        } => invalid(detail, violations),
        Refusal::NotAllowed(_) => problem(
            403,
            "caller.event_type_not_allowed",
            false,
            refusal.to_string(),
        ),
        Refusal::StoreUnavailable => {
            problem(503, "hub.store_unavailable", true, refusal.to_string())
        }
    }
}

fn invalid(detail: String, violations: Vec<Violation>) -> Refused {
    let mut problem = Problem::new(422, "caller.invalid_event", Fault::Caller, false, detail);
    problem.violations = violations;
    Refused(Box::new(problem))
}

fn taken(intakes: &[Intake]) -> HttpResponse {
    let count = |wanted| intakes.iter().filter(|i| **i == wanted).count();
    HttpResponse::Ok().json(json!({
        "taken": count(Intake::Taken),
        "alreadyTaken": count(Intake::Seen),
    }))
}

/// `POST /ce/produce/event`: one structured CloudEvent.
pub async fn produce_one(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let events = events_of(&state)?;
    let producer = producer(&request, events)?;
    let bytes = body(&request, payload, EVENT_MEDIA_TYPE, &state).await?;
    let event = CloudEvent::parse(&bytes).map_err(|error| invalid(error.to_string(), vec![]))?;
    let intakes = events
        .take(std::slice::from_ref(&event), Channel::Producer(&producer))
        .await
        .map_err(refused)?;
    Ok(taken(&intakes))
}

/// `POST /ce/produce/events`: a JSON array of CloudEvents, taken all or none.
pub async fn produce_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let events = events_of(&state)?;
    let producer = producer(&request, events)?;
    let bytes = body(&request, payload, BATCH_MEDIA_TYPE, &state).await?;
    let batch =
        CloudEvent::parse_batch(&bytes).map_err(|error| invalid(error.to_string(), vec![]))?;
    if batch.is_empty() {
        return Err(invalid("the batch holds no event".into(), vec![]));
    }
    let intakes = events
        .take(&batch, Channel::Producer(&producer))
        .await
        .map_err(refused)?;
    Ok(taken(&intakes))
}

/// Checks that the caller is an operator and that the hub takes events.
fn operator_events<'a>(request: &HttpRequest, state: &'a ApiState) -> Result<&'a Events, Refused> {
    operator(request, state)
        .map_err(|failure| Refused(Box::new(Problem::from_exchange_error(&failure.error, None))))?;
    events_of(state)
}

fn store_unavailable() -> Refused {
    problem(
        503,
        "hub.store_unavailable",
        true,
        "the store is unavailable",
    )
}

/// `GET /api/v1/events/reviews`: events whose subject the master index could not resolve.
pub async fn reviews(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    parked(&request, &state, Parked::Review, "reviews").await
}

/// `GET /api/v1/events/dead`: events that can never be handled as they are, and deliveries
/// that could not be made.
pub async fn dead(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    parked(&request, &state, Parked::Dead, "events").await
}

async fn parked(
    request: &HttpRequest,
    state: &ApiState,
    which: Parked,
    key: &str,
) -> Result<HttpResponse, Refused> {
    let store = operator_events(request, state)?.store();
    let rows = store
        .parked_events(which, LIST_LIMIT)
        .await
        .map_err(|_| store_unavailable())?;
    let items: Vec<_> = rows.into_iter().map(event_json).collect();
    let mut answer = json!({ key: items });
    if which == Parked::Dead {
        let deliveries = store
            .deliveries(None, LIST_LIMIT)
            .await
            .map_err(|_| store_unavailable())?;
        answer["deliveries"] = deliveries.into_iter().map(delivery_json).collect();
    }
    Ok(HttpResponse::Ok().json(answer))
}

fn event_json(row: esocial_store::ParkedEvent) -> serde_json::Value {
    json!({
        "id": row.id,
        "source": row.source,
        "eventId": row.cloudevent_id,
        "type": row.event_type,
        "state": row.state,
        "reason": row.reason,
        "attempts": row.attempts,
        "receivedAt": row.received_at,
        "endedAt": row.ended_at,
    })
}

fn delivery_json(row: esocial_store::DeliveryRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "originId": row.origin_id,
        "purpose": row.purpose,
        "channel": row.channel,
        "caseId": row.case_id,
        "priority": row.priority,
        "state": row.state,
        "reason": row.reason,
        "attempts": row.attempts,
        "remoteId": row.remote_id,
        "remoteStatus": row.remote_status,
        "createdAt": row.created_at,
        "endedAt": row.ended_at,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventQuery {
    source: String,
    event_id: String,
}

/// `GET /api/v1/events?source=…&eventId=…`: where an event a producer sent stands, and the
/// alerts it gave.
pub async fn lookup(
    request: HttpRequest,
    query: web::Query<EventQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let store = operator_events(&request, &state)?.store();
    let event = store
        .event_by_source(&query.source, &query.event_id)
        .await
        .map_err(|_| store_unavailable())?
        .ok_or_else(|| {
            problem(
                404,
                "caller.no_such_event",
                false,
                "no event with this source and id was taken",
            )
        })?;
    let deliveries = store
        .deliveries(Some(&event.id), LIST_LIMIT)
        .await
        .map_err(|_| store_unavailable())?;
    let mut answer = event_json(event);
    answer["deliveries"] = deliveries.into_iter().map(delivery_json).collect();
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST /api/v1/events/{id}/replay`: an event in review or dead is handled again.
pub async fn replay(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let events = operator_events(&request, &state)?;
    replayed(&path, events.replay(&path).await, "event in review or dead")
}

/// `POST /api/v1/events/deliveries/{id}/replay`: a dead delivery is sent again.
pub async fn replay_delivery(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, Refused> {
    let events = operator_events(&request, &state)?;
    replayed(&path, events.replay_delivery(&path).await, "dead delivery")
}

/// The answer to a replay of `what` with id `id`.
fn replayed(
    id: &str,
    outcome: Result<bool, esocial_store::StoreError>,
    what: &str,
) -> Result<HttpResponse, Refused> {
    match outcome {
        Ok(true) => Ok(HttpResponse::Accepted().json(json!({ "replayed": id }))),
        Ok(false) => Err(problem(
            404,
            "caller.not_replayable",
            false,
            format!("no {what} has this id"),
        )),
        Err(_) => Err(store_unavailable()),
    }
}
