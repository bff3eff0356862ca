//! `/api/v1/exchanges`: an eSocial module asks for data about a person, synchronously or
//! asynchronously, and reads back asynchronous exchanges.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

use crate::api::ApiState;
use crate::config::MpiRole;
use crate::exchange::{ExchangeError, ExchangeFailure, ExchangeRequest, Mode};
use esocial_catalog::json_schema::Violation;
use esocial_mpi::engine::SubjectRef;
use esocial_mpi::index::RecordRef;
use esocial_wire::crypto::tls::ClientIdentity;

/// The registered client behind this connection's certificate.
pub(crate) fn caller(request: &HttpRequest, state: &ApiState) -> Result<String, ExchangeFailure> {
    let client = request
        .conn_data::<ClientIdentity>()
        .ok_or(ExchangeError::NoClientCertificate)?
        .common_name
        .clone();
    state.exchanger.authenticate(&client)?;
    Ok(client)
}

/// Reads the body up to the configured size and within the configured time: larger bodies are
/// refused, not truncated, and a body still incomplete at the deadline is answered 408.
pub(crate) async fn read_limited(
    payload: web::Payload,
    state: &ApiState,
) -> Result<web::BytesMut, ExchangeFailure> {
    let deadline = state.body_read_timeout;
    tokio::time::timeout(deadline, read_body(payload, state.max_body_bytes))
        .await
        .map_err(|_| ExchangeError::RequestTimeout(deadline.as_millis()))?
}

async fn read_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ExchangeFailure> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ExchangeError::MalformedJson(error.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ExchangeError::InvalidRequest(vec![Violation {
                pointer: String::new(),
                message: format!("body is larger than {limit} bytes"),
            }])
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ExchangeFailure> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ExchangeError::InvalidRequest(vec![Violation {
                pointer: String::new(),
                message: "header Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
            }])
        })?;
    Ok(Some(key.to_string()))
}

pub async fn create_exchange(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let body = read_limited(payload, &state).await?;
    let mut value = ExchangeRequest::json(&body)?;
    resolve_subject(&mut value, &client, &state).await?;
    let exchange_request = ExchangeRequest::from_value(value)?;
    match exchange_request.mode {
        Mode::Sync if exchange_request.callback_url.is_some() => {
            Err(ExchangeError::InvalidRequest(vec![Violation {
                pointer: "/callbackUrl".into(),
                message: "a callback is only for \"mode\": \"async\"".into(),
            }])
            .into())
        }
        Mode::Sync => {
            let result = state.exchanger.run(&client, exchange_request).await?;
            Ok(HttpResponse::Ok().json(result))
        }
        Mode::Async => {
            let key = idempotency_key(&request)?;
            let digest = esocial_wire::mconnect::message_digest(&body);
            let accepted = state
                .exchanger
                .submit_async(&client, exchange_request, key, digest)
                .await?;
            let location = format!("/api/v1/exchanges/{}", accepted.exchange_id);
            Ok(HttpResponse::Accepted()
                .insert_header(("Location", location.clone()))
                .json(json!({
                    "exchangeId": accepted.exchange_id,
                    "status": "accepted",
                    "location": location,
                    "repeated": accepted.repeated,
                })))
        }
    }
}

/// A subject given by `personId` or by `source` + `localId` is replaced by the one valid IDNP
/// the master index holds for that person; a subject with an IDNP is left as it is. Looking a
/// person up needs the `read` role in the master index, and is audited like any read.
async fn resolve_subject(
    value: &mut serde_json::Value,
    client: &str,
    state: &ApiState,
) -> Result<(), ExchangeFailure> {
    let Some(subject) = value.get("subject").and_then(|s| s.as_object()) else {
        return Ok(());
    };
    if subject.contains_key("idnp") || subject.len() > 2 {
        return Ok(());
    }
    let text = |key: &str| subject.get(key).and_then(|v| v.as_str());
    let reference = match (text("personId"), text("source"), text("localId")) {
        (Some(id), None, None) => match uuid::Uuid::parse_str(id) {
            Ok(id) => SubjectRef::Person(id),
            Err(_) => return Ok(()),
        },
        (None, Some(source), Some(local_id)) => SubjectRef::Record(RecordRef {
            source: source.to_owned(),
            local_id: local_id.to_owned(),
        }),
        _ => return Ok(()),
    };
    let may_read = state
        .mpi_roles
        .get(client)
        .is_some_and(|roles| roles.contains(&MpiRole::Read));
    if !may_read {
        return Err(ExchangeError::AccessDenied {
            client: client.to_owned(),
            service: "master index (subject by person or record)".into(),
        }
        .into());
    }
    let resolved = state.mpi.resolve_subject(&reference);
    let audited = state
        .mpi
        .audit(
            client,
            "resolve-subject",
            resolved.as_ref().ok().map(|(person, _)| *person),
            if resolved.is_ok() { "ok" } else { "refused" },
        )
        .await;
    if audited.is_err() {
        return Err(ExchangeError::StoreUnavailable.into());
    }
    let (_, idnp) = resolved.map_err(ExchangeError::UnresolvedSubject)?;
    value["subject"] = json!({ "idnp": idnp });
    Ok(())
}

/// `GET /api/v1/exchanges/{id}`: status and, once completed, the result.
pub async fn get_exchange(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let id = path
        .into_inner()
        .parse()
        .map_err(|_| ExchangeError::UnknownExchange)?;
    let status = state.exchanger.status(Some(&client), id).await?;
    Ok(HttpResponse::Ok().json(status))
}

pub(crate) fn operator(request: &HttpRequest, state: &ApiState) -> Result<String, ExchangeFailure> {
    let client = caller(request, state)?;
    if !state.exchanger.is_operator(&client) {
        return Err(ExchangeError::AccessDenied {
            client,
            service: "hub.operations".into(),
        }
        .into());
    }
    Ok(client)
}

/// `GET /api/v1/admin/dead-letters`: the dead-lettered exchanges, newest first.
pub async fn dead_letters(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    operator(&request, &state)?;
    let ids = state
        .exchanger
        .store()
        .dead_letters(500)
        .await
        .map_err(|_| ExchangeError::StoreUnavailable)?;
    let mut items = Vec::new();
    for id in ids {
        let mut item = state.exchanger.status(None, id).await?;
        if let Some(object) = item.as_object_mut() {
            object.remove("result");
        }
        items.push(item);
    }
    Ok(HttpResponse::Ok().json(json!({ "deadLetters": items })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayBody {
    exchange_ids: Vec<uuid::Uuid>,
}

/// `POST /api/v1/admin/replay`: replays dead-lettered exchanges, each as a new exchange whose
/// `parentId` is the original.
pub async fn replay(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let operator = operator(&request, &state)?;
    let bytes = read_limited(payload, &state).await?;
    let body: ReplayBody = serde_json::from_slice(&bytes)
        .map_err(|error| ExchangeError::MalformedJson(error.to_string()))?;
    let mut replayed = Vec::new();
    let mut refused = Vec::new();
    for original in body.exchange_ids {
        match state.exchanger.replay(original, &operator).await {
            Ok(replay) => replayed.push(json!({"original": original, "replay": replay})),
            Err(failure) => {
                refused.push(json!({"exchangeId": original, "code": failure.error.code()}))
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({"replayed": replayed, "refused": refused})))
}
