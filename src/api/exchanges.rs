//! `POST /api/v1/exchanges`: an eSocial module asks for data about a person.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::api::ApiState;
use crate::crypto::tls::ClientIdentity;
use crate::exchange::{ExchangeError, ExchangeFailure, ExchangeRequest};

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

/// Reads the body up to the configured limit; larger bodies are refused, not truncated.
pub(crate) async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ExchangeFailure> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ExchangeError::MalformedJson(error.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(
                ExchangeError::InvalidRequest(vec![crate::schema::Violation {
                    pointer: String::new(),
                    message: format!("body is larger than {limit} bytes"),
                }])
                .into(),
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn create_exchange(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ExchangeFailure> {
    let client = caller(&request, &state)?;
    let body = read_limited(payload, state.max_body_bytes).await?;
    let exchange_request = ExchangeRequest::parse(&body)?;
    let result = state.exchanger.run(&client, exchange_request).await?;
    Ok(HttpResponse::Ok().json(result))
}
