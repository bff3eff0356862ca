//! What the HTTP simulators of MConnect's services share: the mutual-TLS listener, RFC 9457
//! problem+json answers, media-type checks and request bodies read within a limit.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use esocial_catalog::json_schema::Violation;
use futures_util::StreamExt;
use openssl::ssl::SslAcceptorBuilder;
use serde::Serialize;

/// The listener and the mutual-TLS acceptor of a simulator (`what` names it in errors), clients
/// from `client_ca`; with the port it got.
pub fn mutual_tls_listener(
    listen: std::net::SocketAddr,
    tls_cert: &std::path::Path,
    tls_key: &std::path::Path,
    client_ca: &std::path::Path,
    what: &str,
) -> anyhow::Result<(std::net::TcpListener, SslAcceptorBuilder, u16)> {
    let tls = esocial_wire::crypto::tls::mutual_tls_acceptor(tls_cert, tls_key, client_ca)?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("binding the {what} to {listen}"))?;
    let port = listener.local_addr()?.port();
    Ok((listener, tls, port))
}

/// An RFC 9457 problem. `detail` and the violations name fields and places, never values.
#[derive(Debug, Serialize)]
pub struct Problem {
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<Violation>) -> Self {
        self.errors = errors;
        self
    }

    pub fn response(&self) -> HttpResponse {
        HttpResponse::build(StatusCode::from_u16(self.status).unwrap_or_default())
            .content_type("application/problem+json")
            .json(self)
    }
}

/// The problem with a request whose body is not of `media_type` (parameters such as `charset`
/// are allowed), or `None` when it is.
pub fn wrong_media_type(request: &HttpRequest, media_type: &str) -> Option<Problem> {
    let declared = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if declared.is_some_and(|declared| declared.eq_ignore_ascii_case(media_type)) {
        return None;
    }
    Some(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported media type",
        format!("the body must be `{media_type}`"),
    ))
}

/// Reads the whole body, refusing one over `limit` bytes with 413 before reading past it.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request too large",
            format!("the body must not exceed {limit} bytes"),
        )
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "body not read",
                "the request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
