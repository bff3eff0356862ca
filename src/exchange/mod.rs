//! The outbound exchange flow: check the caller's grant, record the exchange, encode and sign
//! the registry request, verify and decode the answer, and close the record with one outcome.

mod error;
mod request;

pub use error::{ExchangeError, Fault};
pub use request::{ExchangeRequest, Purpose};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{Span, info, warn};
use uuid::Uuid;

use crate::audit::PersonalDataDigester;
use crate::catalog::{AccessMatrix, Catalog, Service};
use crate::domain::Idno;
use crate::mconnect::client::{CallError, Destination, MconnectClient};
use crate::mconnect::envelope::{self, CallContext, Envelope};
use crate::mconnect::xml;
use crate::metrics::HubMetrics;
use crate::store::{ExchangeOutcome, NewExchange, Store};

/// The canonical answer of a completed exchange (see `schemas/exchange-result.schema.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeResult {
    pub exchange_id: Uuid,
    pub service: String,
    pub status: &'static str,
    pub registry: RegistryReceipt,
    pub received_at: String,
    pub completed_at: String,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryReceipt {
    pub name: String,
    pub message_id: String,
    pub signed_by: String,
}

/// A failed exchange: the error, and the exchange id if the exchange had been accepted.
#[derive(Debug)]
pub struct ExchangeFailure {
    pub exchange_id: Option<Uuid>,
    pub error: ExchangeError,
}

impl From<ExchangeError> for ExchangeFailure {
    fn from(error: ExchangeError) -> Self {
        Self {
            exchange_id: None,
            error,
        }
    }
}

/// Everything the outbound flow needs, shared by all requests.
#[derive(Clone)]
pub struct Exchanger {
    catalog: Arc<Catalog>,
    access: Arc<AccessMatrix>,
    clients: Arc<BTreeMap<String, Idno>>,
    store: Store,
    mconnect: MconnectClient,
    digester: PersonalDataDigester,
    metrics: HubMetrics,
}

/// What the registry call produced before it is written to the log.
struct Decoded {
    data: Value,
    message_id: String,
    signer: String,
}

fn now_text(moment: OffsetDateTime) -> String {
    moment
        .format(&Rfc3339)
        .expect("UTC timestamps always format as RFC 3339")
}

impl Exchanger {
    pub fn new(
        catalog: Arc<Catalog>,
        access: AccessMatrix,
        clients: BTreeMap<String, Idno>,
        store: Store,
        mconnect: MconnectClient,
        digester: PersonalDataDigester,
        metrics: HubMetrics,
    ) -> Self {
        Self {
            catalog,
            access: Arc::new(access),
            clients: Arc::new(clients),
            store,
            mconnect,
            digester,
            metrics,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Checks that `client` is registered; returns its organisation IDNO.
    pub fn authenticate(&self, client: &str) -> Result<&Idno, ExchangeError> {
        self.clients
            .get(client)
            .ok_or_else(|| ExchangeError::UnknownClient(client.to_string()))
    }

    /// Runs one synchronous exchange for an authenticated client.
    #[tracing::instrument(skip_all, fields(exchange_id, service = %request.service, client = %client))]
    pub async fn run(
        &self,
        client: &str,
        request: ExchangeRequest,
    ) -> Result<ExchangeResult, ExchangeFailure> {
        let started = Instant::now();
        let entity = self.authenticate(client)?.clone();
        let service = self
            .catalog
            .service(&request.service)
            .ok_or_else(|| ExchangeError::UnknownService(request.service.clone()))?;
        if !self.access.allows(client, &service.id) {
            warn!("access denied by the access matrix");
            return Err(ExchangeError::AccessDenied {
                client: client.to_string(),
                service: service.id.clone(),
            }
            .into());
        }
        let exchange_id = Uuid::new_v4();
        Span::current().record("exchange_id", tracing::field::display(exchange_id));
        let received_at = OffsetDateTime::now_utc();
        self.store
            .begin_exchange(&NewExchange {
                id: exchange_id,
                client_id: client.to_string(),
                service: service.id.clone(),
                legal_basis: request.purpose.legal_basis.clone(),
                reason: request.purpose.reason.clone(),
                case_id: request.purpose.case_id.clone(),
                calling_user_digest: self.digester.digest(request.calling_user.expose()),
                subject_digest: self.digester.digest(request.subject.expose()),
                received_at,
            })
            .await
            .map_err(|error| {
                warn!(%error, "cannot record the exchange; refusing it");
                ExchangeError::StoreUnavailable
            })?;
        info!("exchange accepted");

        let (outcome, digests) = self.call_registry(service, &entity, &request).await;
        let completed_at = OffsetDateTime::now_utc();
        let (request_digest, response_digest) = digests;
        let log_outcome = match &outcome {
            Ok(decoded) => ExchangeOutcome::Completed {
                request_digest: request_digest.clone().unwrap_or_default(),
                response_digest: response_digest.clone().unwrap_or_default(),
                registry_message_id: decoded.message_id.clone(),
            },
            Err(error) => ExchangeOutcome::Failed {
                error_code: error.code().to_string(),
                request_digest: request_digest.clone(),
                response_digest: response_digest.clone(),
            },
        };
        let outcome_label = outcome.as_ref().map_or_else(|e| e.code(), |_| "ok");
        self.metrics
            .exchanges
            .with_label_values(&[service.id.as_str(), outcome_label])
            .inc();
        self.metrics
            .exchange_seconds
            .with_label_values(&[service.id.as_str()])
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = self
            .store
            .finish_exchange(exchange_id, &log_outcome, completed_at)
            .await
        {
            // The answer cannot be released without its audit record.
            warn!(%error, "cannot close the exchange record; withholding the answer");
            return Err(ExchangeFailure {
                exchange_id: Some(exchange_id),
                error: ExchangeError::StoreUnavailable,
            });
        }
        match outcome {
            Ok(decoded) => {
                info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "exchange completed"
                );
                Ok(ExchangeResult {
                    exchange_id,
                    service: service.id.clone(),
                    status: "completed",
                    registry: RegistryReceipt {
                        name: service.registry.clone(),
                        message_id: decoded.message_id,
                        signed_by: decoded.signer,
                    },
                    received_at: now_text(received_at),
                    completed_at: now_text(completed_at),
                    data: decoded.data,
                })
            }
            Err(error) => {
                warn!(code = error.code(), %error, "exchange failed");
                Err(ExchangeFailure {
                    exchange_id: Some(exchange_id),
                    error,
                })
            }
        }
    }

    /// Encodes, sends, verifies and decodes. Returns the digests of what went over the wire.
    async fn call_registry(
        &self,
        service: &Service,
        entity: &Idno,
        request: &ExchangeRequest,
    ) -> (
        Result<Decoded, ExchangeError>,
        (Option<String>, Option<String>),
    ) {
        let registry = match self.catalog.registry(&service.registry) {
            Some(registry) => registry,
            None => return (Err(ExchangeError::Internal), (None, None)),
        };
        let body = match service.request.render(|name| {
            if name == "subject.idnp" {
                Some(request.subject.expose().to_string())
            } else {
                name.strip_prefix("params.")
                    .and_then(|key| request.params.get(key).cloned())
            }
        }) {
            Ok(body) => body,
            Err(error) => {
                let violation = crate::schema::Violation {
                    pointer: "/params".into(),
                    message: error.to_string(),
                };
                return (
                    Err(ExchangeError::InvalidRequest(vec![violation])),
                    (None, None),
                );
            }
        };
        let message_id = Uuid::new_v4().to_string();
        let unsigned = envelope::request(
            &CallContext {
                calling_user: request.calling_user.expose().to_string(),
                calling_entity: entity.as_str().to_string(),
                call_basis: request.purpose.legal_basis.clone(),
                call_reason: request.purpose.reason.clone(),
                message_id: message_id.clone(),
            },
            &body,
        );
        let destination = Destination {
            endpoint: &registry.endpoint,
            soap_action: &service.soap_action,
            timeout: registry.timeout,
            expected_signer: registry.signer.as_deref(),
        };
        let call_started = Instant::now();
        let answer = self.mconnect.call(&destination, &unsigned).await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                let mapped = map_call_error(&error, registry.timeout);
                self.metrics
                    .registry_call_seconds
                    .with_label_values(&[registry.name.as_str(), mapped.code()])
                    .observe(call_started.elapsed().as_secs_f64());
                warn!(registry = %registry.name, %error, "registry call failed");
                return (Err(mapped), (None, None));
            }
        };
        self.metrics
            .registry_call_seconds
            .with_label_values(&[registry.name.as_str(), "ok"])
            .observe(call_started.elapsed().as_secs_f64());
        let digests = (
            Some(answer.request_digest.clone()),
            Some(answer.response_digest.clone()),
        );
        (
            decode_answer(service, &message_id, &answer.text, answer.signer),
            digests,
        )
    }
}

fn map_call_error(error: &CallError, timeout: std::time::Duration) -> ExchangeError {
    match error {
        CallError::Timeout(_) => ExchangeError::RegistryTimeout(timeout.as_millis()),
        CallError::Connect(detail) => ExchangeError::RegistryUnavailable(detail.clone()),
        CallError::HttpStatus(status) if *status >= 500 => {
            ExchangeError::RegistryUnavailable(format!("HTTP {status}"))
        }
        CallError::HttpStatus(status) => {
            ExchangeError::RegistryInvalidResponse(format!("HTTP {status}"))
        }
        CallError::TooLarge | CallError::NotText => {
            ExchangeError::RegistryInvalidResponse(error.to_string())
        }
        CallError::Signature(_) | CallError::WrongSigner { .. } => {
            ExchangeError::RegistrySignature(error.to_string())
        }
        CallError::Sign(_) => ExchangeError::Internal,
    }
}

/// Reads a verified answer: a mapped fault, or the payload mapped and schema-checked.
fn decode_answer(
    service: &Service,
    request_message_id: &str,
    text: &str,
    signer: String,
) -> Result<Decoded, ExchangeError> {
    let invalid = |detail: String| ExchangeError::RegistryInvalidResponse(detail);
    let document = xml::parse(text).map_err(|error| invalid(error.to_string()))?;
    let envelope = Envelope::read(&document).map_err(|error| invalid(error.to_string()))?;
    let relates_to = envelope.mconnect_header("RelatesTo");
    if relates_to.as_deref() != Some(request_message_id) {
        return Err(invalid(
            "answer does not relate to our request's MessageId".into(),
        ));
    }
    let message_id = envelope
        .mconnect_header("MessageId")
        .ok_or_else(|| invalid("answer has no MessageId".into()))?;
    if let Some(fault) = envelope.fault() {
        return Err(match service.faults.get(&fault.code).map(String::as_str) {
            Some("caller.subject_not_found") => ExchangeError::SubjectNotFound,
            Some("caller.rejected_by_registry") => ExchangeError::RejectedByRegistry(fault.code),
            Some("registry.unavailable") => ExchangeError::RegistryUnavailable(fault.code),
            _ if fault.is_client_fault() => ExchangeError::RejectedByRegistry(fault.code),
            _ => ExchangeError::RegistryFault(fault.code),
        });
    }
    let payload = envelope
        .payload()
        .ok_or_else(|| invalid("empty soap:Body".into()))?;
    let data = service
        .response
        .apply(payload)
        .map_err(|error| invalid(error.to_string()))?;
    crate::schema::validate(&service.data_schema, &data)
        .map_err(ExchangeError::RegistryResultInvalid)?;
    Ok(Decoded {
        data,
        message_id,
        signer,
    })
}
