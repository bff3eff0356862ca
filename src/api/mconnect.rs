//! eSocial's MConnect endpoints for agencies: SOAP with WS-Security at `/mconnect/v1/soap`,
//! REST with JWS at `/mconnect/v1/<service>`. They read and verify the signed message, hand it
//! to the provider, and sign whatever they answer, refusals included.

use std::time::{Duration, SystemTime};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::ApiState;
use super::problem::Problem;
use crate::exchange::ExchangeError;
use crate::provider::{CallHeaders, InboundService, Provider, Refused, VerifiedCall, render};
use esocial_wire::crypto::jws::{self, JwsError};
use esocial_wire::crypto::tls::ClientIdentity;
use esocial_wire::crypto::wssec::{self, WsSecurityError};
use esocial_wire::mconnect::envelope::{self, AnswerBinding, Envelope};
use esocial_wire::mconnect::{request_hash, xml};

/// Longest message id echoed back as `RelatesTo` when the request could not be verified.
const MAX_ECHOED_ID: usize = 128;

/// A request as far as it was read, for the answer and the record.
struct Received {
    agency: String,
    service: String,
    headers: CallHeaders,
    request_hash: String,
    request_digest: String,
}

impl Received {
    fn new(request: &HttpRequest, body: &[u8]) -> Self {
        Self {
            agency: request
                .conn_data::<ClientIdentity>()
                .map(|identity| identity.common_name.clone())
                .unwrap_or_default(),
            service: String::new(),
            headers: CallHeaders::default(),
            request_hash: request_hash(body),
            request_digest: esocial_wire::mconnect::message_digest(body),
        }
    }

    /// The connection's certificate must name a registered agency.
    fn check_agency(&self, provider: &Provider) -> Result<(), ExchangeError> {
        if self.agency.is_empty() {
            return Err(ExchangeError::NoClientCertificate);
        }
        provider.agency(&self.agency).map(|_| ())
    }

    /// The request, once its signature verified and its canonical form was read.
    fn verified(
        &self,
        service: InboundService,
        expires: SystemTime,
        request: Value,
    ) -> VerifiedCall {
        VerifiedCall {
            agency: self.agency.clone(),
            service,
            headers: self.headers.clone(),
            expires,
            request,
            request_digest: self.request_digest.clone(),
        }
    }

    fn relates_to(&self) -> String {
        let id = &self.headers.message_id;
        if id.len() <= MAX_ECHOED_ID {
            id.clone()
        } else {
            String::new()
        }
    }
}

/// Reads the body up to `limit` and within `deadline`; a larger one is refused before it is
/// read whole, a slower one when the deadline passes.
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, ExchangeError> {
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|_| ExchangeError::MalformedMessage("body not readable".into()))?;
            if body.len() + chunk.len() > limit {
                return Err(ExchangeError::MessageTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| ExchangeError::RequestTimeout(deadline.as_millis()))?
}

fn declared_too_large(request: &HttpRequest, limit: usize) -> bool {
    request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|length| length > limit)
}

/// The body within the size limit and the read deadline; a body declared too large is refused
/// before any of it is read.
async fn request_body(
    request: &HttpRequest,
    payload: web::Payload,
    state: &ApiState,
) -> Result<Vec<u8>, ExchangeError> {
    let limit = state.max_body_bytes;
    if declared_too_large(request, limit) {
        return Err(ExchangeError::MessageTooLarge(limit));
    }
    read_body(payload, limit, state.body_read_timeout).await
}

/// `POST /mconnect/v1/soap`.
pub async fn soap(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> HttpResponse {
    let provider = &state.provider;
    let body = request_body(&request, payload, &state).await;
    let body_bytes = body.as_deref().unwrap_or_default();
    let mut received = Received::new(&request, body_bytes);
    let verified = match body {
        Ok(body) => verify_soap(provider, &request, body, &mut received).await,
        Err(error) => Err(error),
    };
    let outcome = match verified {
        Ok(call) => provider.serve(call).await,
        Err(error) => Err(refuse(provider, &received, error).await),
    };
    let (status, unsigned) = match outcome {
        Ok(served) => {
            let service = InboundService::parse(&received.service).expect("verified service");
            let binding = AnswerBinding {
                message_id: served.answer_message_id,
                relates_to: received.relates_to(),
                request_hash: received.request_hash.clone(),
            };
            let payload = render::to_xml(&format!("{}Response", service.name()), &served.answer);
            (200, envelope::response(&binding, &payload))
        }
        Err(refused) => {
            let binding = AnswerBinding {
                message_id: uuid::Uuid::new_v4().to_string(),
                relates_to: received.relates_to(),
                request_hash: received.request_hash.clone(),
            };
            (500, soap_fault(&binding, &refused))
        }
    };
    let identity = provider.keys.identity.clone();
    let signed = provider
        .crypto(unsigned.len(), move || {
            wssec::sign_envelope(&unsigned, &identity, SystemTime::now(), wssec::DEFAULT_TTL)
        })
        .await;
    match signed {
        Ok(Ok(signed)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("200 or 500"))
                .content_type("text/xml; charset=utf-8")
                .body(signed)
        }
        _ => {
            tracing::warn!("cannot sign the SOAP answer");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// A SOAP 1.1 Fault envelope for a refusal: `Client` or `Server`, the message, the stable code.
fn soap_fault(binding: &AnswerBinding, refused: &Refused) -> String {
    let error = &refused.error;
    let side = match error.fault() {
        crate::exchange::Fault::Caller => "Client",
        _ => "Server",
    };
    envelope::fault(
        binding,
        side,
        &error.to_string(),
        Some(&envelope::FaultDetail {
            code: error.code(),
            retryable: error.retryable(),
            exchange_id: refused.exchange_id,
        }),
    )
}

fn soap_error(error: WsSecurityError) -> ExchangeError {
    match error {
        WsSecurityError::TooLarge(_) => ExchangeError::MessageTooLarge(wssec::MAX_ENVELOPE_BYTES),
        WsSecurityError::TooDeep(_) | WsSecurityError::DtdForbidden => {
            ExchangeError::MalformedMessage(error.to_string())
        }
        WsSecurityError::Malformed(_) => ExchangeError::MalformedMessage(error.to_string()),
        WsSecurityError::Unsigned(_) => ExchangeError::UnsignedMessage(error.to_string()),
        WsSecurityError::IncompleteCoverage(_) => {
            ExchangeError::IncompleteSignature(error.to_string())
        }
        WsSecurityError::UntrustedSigner(_) => ExchangeError::UntrustedSigner(error.to_string()),
        WsSecurityError::Expired(_) | WsSecurityError::LifetimeTooLong => {
            ExchangeError::ExpiredMessage
        }
        WsSecurityError::NotYetValid(_) => ExchangeError::MessageFromFuture,
        WsSecurityError::DuplicateId(_)
        | WsSecurityError::BadSignature(_)
        | WsSecurityError::UnsupportedAlgorithm(_)
        | WsSecurityError::Key(_) => ExchangeError::InvalidSignature(error.to_string()),
    }
}

async fn verify_soap(
    provider: &Provider,
    request: &HttpRequest,
    body: Vec<u8>,
    received: &mut Received,
) -> Result<VerifiedCall, ExchangeError> {
    received.check_agency(provider)?;
    let text = String::from_utf8(body)
        .map_err(|_| ExchangeError::MalformedMessage("not UTF-8 text".into()))?;
    let trust = provider.keys.trust.clone();
    let (verified, text) = provider
        .crypto(text.len(), move || {
            let verified = wssec::verify_envelope(&text, &trust, SystemTime::now());
            (verified, text)
        })
        .await?;
    let verified = verified.map_err(soap_error)?;
    let signer = esocial_wire::mconnect::client::common_name(&verified.signer_certificate_der);
    if signer.as_deref() != Some(received.agency.as_str()) {
        return Err(ExchangeError::SignerMismatch);
    }
    // Every header and the Body were signed (verify_envelope refuses anything else), so what
    // is read here is what the agency signed.
    let document =
        xml::parse(&text).map_err(|error| ExchangeError::MalformedMessage(error.to_string()))?;
    let envelope = Envelope::read(&document)
        .map_err(|error| ExchangeError::MalformedMessage(error.to_string()))?;
    let header = |name: &str| envelope.mconnect_header(name).unwrap_or_default();
    received.headers = CallHeaders {
        calling_user: header("CallingUser"),
        calling_entity: header("CallingEntity"),
        call_basis: header("CallBasis"),
        call_reason: header("CallReason"),
        message_id: header("MessageId"),
    };
    let payload = envelope
        .payload()
        .ok_or_else(|| ExchangeError::MalformedMessage("empty soap:Body".into()))?;
    let operation = payload.tag_name().name();
    let service = operation
        .strip_suffix("Request")
        .and_then(InboundService::parse)
        .ok_or_else(|| ExchangeError::UnknownService(operation.to_string()))?;
    received.service = service.name().to_string();
    if let Some(action) = request.headers().get("SOAPAction") {
        let expected = format!("{}/{}", render::ES_NS, service.name());
        let action = action.to_str().unwrap_or_default().trim_matches('"');
        if !action.is_empty() && action != expected {
            return Err(ExchangeError::MalformedMessage(
                "SOAPAction does not name the operation in the Body".into(),
            ));
        }
    }
    let request = render::request_fields(payload)
        .map_err(|error| ExchangeError::MalformedMessage(error.to_string()))?;
    Ok(received.verified(service, verified.expires, request))
}

/// Records a refusal that happened before the provider could serve the request.
async fn refuse(provider: &Provider, received: &Received, error: ExchangeError) -> Refused {
    let agency = if received.agency.is_empty() {
        "(no certificate)"
    } else {
        &received.agency
    };
    let service = if received.service.is_empty() {
        "(unknown)"
    } else {
        &received.service
    };
    let exchange_id = provider
        .record_refusal(
            agency,
            service,
            &received.headers,
            &received.request_digest,
            &error,
        )
        .await;
    Refused { exchange_id, error }
}

/// `POST /mconnect/v1/{service}`.
pub async fn rest(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> HttpResponse {
    let provider = &state.provider;
    let body = request_body(&request, payload, &state).await;
    let body_bytes = body.as_deref().unwrap_or_default();
    let token = String::from_utf8_lossy(body_bytes).trim().to_string();
    let mut received = Received::new(&request, token.as_bytes());
    let verified = match (InboundService::from_rest_path(&path), body) {
        (None, _) => Err(ExchangeError::UnknownService(path.into_inner())),
        (Some(service), Ok(_)) => {
            received.service = service.name().to_string();
            verify_rest(provider, service, token, &mut received).await
        }
        (Some(service), Err(error)) => {
            received.service = service.name().to_string();
            Err(error)
        }
    };
    let outcome = match verified {
        Ok(call) => provider.serve(call).await,
        Err(error) => Err(refuse(provider, &received, error).await),
    };
    match outcome {
        Ok(served) => {
            let answer = json!({
                "mconnect": {
                    "messageId": served.answer_message_id,
                    "relatesTo": received.relates_to(),
                    "requestHash": received.request_hash,
                },
                "response": served.answer,
            });
            let signer = provider.keys.jws_signer.clone();
            let answer = answer.to_string();
            let signed = provider
                .crypto(answer.len(), move || {
                    jws::sign_compact(
                        answer.as_bytes(),
                        &signer,
                        SystemTime::now(),
                        wssec::DEFAULT_TTL,
                    )
                })
                .await;
            match signed {
                Ok(Ok(token)) => HttpResponse::Ok()
                    .content_type("application/jose")
                    .body(token),
                _ => HttpResponse::ServiceUnavailable().finish(),
            }
        }
        Err(refused) => {
            let problem = Problem::from_exchange_error(&refused.error, refused.exchange_id);
            let mut document = serde_json::to_value(&problem).unwrap_or_default();
            document["relatesTo"] = json!(received.relates_to());
            document["requestHash"] = json!(received.request_hash);
            let bytes = document.to_string();
            let signer = provider.keys.jws_signer.clone();
            let to_sign = bytes.clone();
            let detached = provider
                .crypto(to_sign.len(), move || {
                    jws::sign_compact(
                        to_sign.as_bytes(),
                        &signer,
                        SystemTime::now(),
                        wssec::DEFAULT_TTL,
                    )
                })
                .await;
            let Ok(Ok(token)) = detached else {
                return HttpResponse::ServiceUnavailable().finish();
            };
            // RFC 7515 appendix F: the payload part left out, the body carries it.
            let mut parts = token.split('.');
            let (header, _, signature) = (parts.next(), parts.next(), parts.next());
            let detached = format!(
                "{}..{}",
                header.unwrap_or_default(),
                signature.unwrap_or_default()
            );
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(problem.status)
                    .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
            )
            .content_type(super::problem::CONTENT_TYPE)
            .insert_header(("X-JWS-Signature", detached))
            .body(bytes)
        }
    }
}

fn rest_error(error: JwsError) -> ExchangeError {
    match error {
        JwsError::TooLarge => ExchangeError::MessageTooLarge(jws::MAX_JWS_BYTES),
        JwsError::Malformed(_) => ExchangeError::UnsignedMessage(error.to_string()),
        JwsError::Expired | JwsError::LifetimeTooLong { .. } => ExchangeError::ExpiredMessage,
        JwsError::NotYetValid => ExchangeError::MessageFromFuture,
        JwsError::UntrustedSigner(_) | JwsError::Revoked(_) => {
            ExchangeError::UntrustedSigner(error.to_string())
        }
        _ => ExchangeError::InvalidSignature(error.to_string()),
    }
}

async fn verify_rest(
    provider: &Provider,
    service: InboundService,
    token: String,
    received: &mut Received,
) -> Result<VerifiedCall, ExchangeError> {
    received.check_agency(provider)?;
    let verifier = provider.keys.jws_verifier.clone();
    let verified = provider
        .crypto(token.len(), move || {
            jws::verify_compact(&token, &verifier, SystemTime::now())
        })
        .await?
        .map_err(rest_error)?;
    if verified.signer_common_name != received.agency {
        return Err(ExchangeError::SignerMismatch);
    }
    let payload: Value = serde_json::from_slice(&verified.payload)
        .map_err(|_| ExchangeError::MalformedMessage("the signed payload is not JSON".into()))?;
    let block = payload.get("mconnect").and_then(Value::as_object);
    let text = |key: &str| {
        block
            .and_then(|b| b.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    received.headers = CallHeaders {
        calling_user: text("callingUser"),
        calling_entity: text("callingEntity"),
        call_basis: text("callBasis"),
        call_reason: text("callReason"),
        message_id: text("messageId"),
    };
    let request = payload
        .get("request")
        .filter(|r| r.is_object())
        .cloned()
        .ok_or_else(|| ExchangeError::MalformedMessage("no `request` object".into()))?;
    Ok(received.verified(service, verified.expires, request))
}

/// Splits a detached JWS header value into its protected header and signature, for tests and
/// clients that check an error answer: the payload is the body.
pub fn attach_detached(detached: &str, body: &[u8]) -> Option<String> {
    let (header, signature) = detached.split_once("..")?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body);
    Some(format!("{header}.{payload}.{signature}"))
}
