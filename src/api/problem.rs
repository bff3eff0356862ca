//! RFC 9457 problem+json answers: a stable code, whose fault it is, and whether to retry.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use uuid::Uuid;

use crate::exchange::{ExchangeError, ExchangeFailure, Fault};
use esocial_catalog::json_schema::Violation;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The problem document (see `schemas/error.schema.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub fault: Fault,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

/// The JSON pointer, under `prefix`, of a field named the way checks name them
/// (`members[2].monthlyIncome` → `{prefix}/members/2/monthlyIncome`).
pub fn field_pointer(prefix: &str, field: &str) -> String {
    format!(
        "{prefix}/{}",
        field.replace('[', ".").replace(']', "").replace('.', "/")
    )
}

impl Problem {
    pub fn new(status: u16, code: &str, fault: Fault, retryable: bool, detail: String) -> Self {
        Self {
            problem_type: format!("urn:esocial-hub:problem:{code}"),
            title: match fault {
                Fault::Caller => "The request cannot be served as sent",
                Fault::Registry => "The registry did not give a usable answer",
                Fault::Hub => "The hub could not complete the request",
            }
            .to_string(),
            status,
            detail,
            code: code.to_string(),
            fault,
            retryable,
            exchange_id: None,
            violations: Vec::new(),
        }
    }

    pub fn from_exchange_error(error: &ExchangeError, exchange_id: Option<Uuid>) -> Self {
        let mut problem = Self::new(
            error.http_status(),
            error.code(),
            error.fault(),
            error.retryable(),
            error.to_string(),
        );
        problem.title = error.title().to_string();
        problem.exchange_id = exchange_id;
        problem.violations = error.violations().to_vec();
        problem
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type(CONTENT_TYPE)
            .json(self)
    }
}

impl std::fmt::Display for ExchangeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl ResponseError for ExchangeFailure {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        Problem::from_exchange_error(&self.error, self.exchange_id).response()
    }
}

/// The answer for paths and methods the API does not have.
pub async fn not_found(request: actix_web::HttpRequest) -> HttpResponse {
    Problem::new(
        404,
        "caller.no_such_endpoint",
        Fault::Caller,
        false,
        format!("no endpoint {} {}", request.method(), request.path()),
    )
    .response()
}
