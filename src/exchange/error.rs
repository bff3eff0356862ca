//! Every way an exchange can fail, with whose fault it is, a stable code and whether retrying
//! may help.

use esocial_catalog::json_schema::Violation;
use esocial_mpi::engine::SubjectError;

/// Who caused a failure, in the spirit of X-Road's `Client.*` / `Server.*` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    Caller,
    Hub,
    Registry,
}

/// Whose fault a stable code is, from its prefix.
pub fn fault_of_code(code: &str) -> Fault {
    match code.split('.').next() {
        Some("caller") => Fault::Caller,
        Some("registry") => Fault::Registry,
        _ => Fault::Hub,
    }
}

/// Whether the failure a stable code names may go away on a later attempt. The one list of
/// retryable codes, for live errors and for codes read back from the exchange log.
pub fn retryable_code(code: &str) -> bool {
    matches!(
        code,
        "registry.timeout"
            | "registry.unavailable"
            | "registry.fault"
            | "hub.store_unavailable"
            | "hub.queue_unavailable"
            | "hub.internal"
            | "hub.interrupted"
            | "hub.overloaded"
    )
}

/// An error as an answer carries it inside its data (a composite's part, an async exchange's
/// status): the stable code, whose fault it is, whether to retry, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorSummary {
    pub code: String,
    pub fault: Fault,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ErrorSummary {
    /// The summary of a stable code read back from the exchange log.
    pub fn of_code(code: &str, detail: Option<String>) -> Self {
        Self {
            code: code.to_string(),
            fault: fault_of_code(code),
            retryable: retryable_code(code),
            detail,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request does not match the exchange-request schema")]
    InvalidRequest(Vec<Violation>),
    #[error("`{field}` is not a valid IDNP: {problem}")]
    InvalidIdnp {
        field: &'static str,
        problem: String,
    },
    #[error("`purpose.legalBasis` is required: state the legal basis of the request in words")]
    MissingLegalBasis,
    #[error("`purpose.reason` is required: state in words why the data is needed")]
    MissingReason,
    #[error("the request was not received within {0} ms")]
    RequestTimeout(u128),
    #[error("no client certificate was presented")]
    NoClientCertificate,
    #[error("client `{0}` is not registered with the hub")]
    UnknownClient(String),
    #[error("service `{0}` is not in the catalog")]
    UnknownService(String),
    #[error("client `{client}` has no grant for service `{service}`")]
    AccessDenied { client: String, service: String },
    #[error("the registry knows no such person")]
    SubjectNotFound,
    #[error("the registry refused the request: {0}")]
    RejectedByRegistry(String),
    #[error("the registry did not answer within {0} ms")]
    RegistryTimeout(u128),
    #[error("the registry cannot be reached: {0}")]
    RegistryUnavailable(String),
    #[error("the registry's answer failed signature verification: {0}")]
    RegistrySignature(String),
    #[error("the registry answered with a fault: {0}")]
    RegistryFault(String),
    #[error("the registry's signed answer is not bound to this request: {0}")]
    RegistryUnboundAnswer(&'static str),
    #[error("the registry's answer was seen before (a replay)")]
    RegistryReplayedAnswer,
    #[error("the registry's answer is not usable: {0}")]
    RegistryInvalidResponse(String),
    #[error("the registry's answer does not match the service data schema")]
    RegistryResultInvalid(Vec<Violation>),
    #[error("the exchange log is unavailable")]
    StoreUnavailable,
    #[error("the queue did not confirm the exchange; it was not accepted")]
    QueueUnavailable,
    #[error("service `{0}` cannot run asynchronously")]
    AsyncNotSupported(String),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("no such exchange for this client")]
    UnknownExchange,
    #[error("`callbackUrl` is not one of the client's registered callback URLs")]
    CallbackNotRegistered,
    #[error("the exchange is not dead-lettered, so it cannot be replayed")]
    NotDeadLettered,
    #[error("the subject cannot be resolved through the master index: {0}")]
    UnresolvedSubject(esocial_mpi::engine::SubjectError),
    #[error("the certificate `{0}` is not a registered agency")]
    UnknownAgency(String),
    #[error("the message is not signed: {0}")]
    UnsignedMessage(String),
    #[error("the message signature is invalid: {0}")]
    InvalidSignature(String),
    #[error("the signature does not cover every part it must: {0}")]
    IncompleteSignature(String),
    #[error("the message was signed by a certificate that is not trusted: {0}")]
    UntrustedSigner(String),
    #[error("the message was signed by another certificate than the connection's")]
    SignerMismatch,
    #[error("the message has expired or was made valid for too long")]
    ExpiredMessage,
    #[error("the message was made in the future")]
    MessageFromFuture,
    #[error("this message id was used before (a replay)")]
    ReplayedMessage,
    #[error("the message is not a well-formed MConnect message: {0}")]
    MalformedMessage(String),
    #[error("the message is larger than {0} bytes")]
    MessageTooLarge(usize),
    #[error("the MConnect header `{0}` is required")]
    MissingHeader(&'static str),
    #[error("`CallingEntity` is not the IDNO of the calling agency")]
    EntityMismatch,
    #[error("the hub is too busy to check this message now")]
    Overloaded,
    #[error("internal error")]
    Internal,
}

impl ExchangeError {
    /// The stable code callers can program against.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "caller.malformed_json",
            Self::InvalidRequest(_) => "caller.invalid_request",
            Self::InvalidIdnp { .. } => "caller.invalid_idnp",
            Self::MissingLegalBasis => "caller.missing_legal_basis",
            Self::MissingReason => "caller.missing_reason",
            Self::RequestTimeout(_) => "caller.request_timeout",
            Self::NoClientCertificate => "caller.no_client_certificate",
            Self::UnknownClient(_) => "caller.unknown_client",
            Self::UnknownService(_) => "caller.unknown_service",
            Self::AccessDenied { .. } => "caller.access_denied",
            Self::SubjectNotFound => "caller.subject_not_found",
            Self::RejectedByRegistry(_) => "caller.rejected_by_registry",
            Self::RegistryTimeout(_) => "registry.timeout",
            Self::RegistryUnavailable(_) => "registry.unavailable",
            Self::RegistrySignature(_) => "registry.invalid_signature",
            Self::RegistryFault(_) => "registry.fault",
            Self::RegistryInvalidResponse(_) => "registry.invalid_response",
            Self::RegistryUnboundAnswer(_) => "registry.unbound_answer",
            Self::RegistryReplayedAnswer => "registry.replayed_answer",
            Self::RegistryResultInvalid(_) => "registry.result_invalid",
            Self::StoreUnavailable => "hub.store_unavailable",
            Self::QueueUnavailable => "hub.queue_unavailable",
            Self::AsyncNotSupported(_) => "caller.async_not_supported",
            Self::IdempotencyConflict => "caller.idempotency_conflict",
            Self::UnknownExchange => "caller.unknown_exchange",
            Self::CallbackNotRegistered => "caller.callback_not_registered",
            Self::NotDeadLettered => "caller.not_dead_lettered",
            Self::UnresolvedSubject(SubjectError::Unknown) => "caller.unknown_subject",
            Self::UnresolvedSubject(SubjectError::NoIdnp) => "caller.subject_without_idnp",
            Self::UnresolvedSubject(SubjectError::ConflictingIdnps) => "caller.subject_ambiguous",
            Self::UnresolvedSubject(SubjectError::SeveralPersons) => "hub.subject_ambiguous",
            Self::UnknownAgency(_) => "caller.unknown_agency",
            Self::UnsignedMessage(_) => "caller.unsigned_message",
            Self::InvalidSignature(_) => "caller.invalid_signature",
            Self::IncompleteSignature(_) => "caller.incomplete_signature",
            Self::UntrustedSigner(_) => "caller.untrusted_signer",
            Self::SignerMismatch => "caller.signer_mismatch",
            Self::ExpiredMessage => "caller.expired_message",
            Self::MessageFromFuture => "caller.message_from_future",
            Self::ReplayedMessage => "caller.replayed_message",
            Self::MalformedMessage(_) => "caller.malformed_message",
            Self::MessageTooLarge(_) => "caller.message_too_large",
            Self::MissingHeader(_) => "caller.missing_header",
            Self::EntityMismatch => "caller.entity_mismatch",
            Self::Overloaded => "hub.overloaded",
            Self::Internal => "hub.internal",
        }
    }

    pub fn fault(&self) -> Fault {
        fault_of_code(self.code())
    }

    /// Whether sending the same request later may succeed.
    pub fn retryable(&self) -> bool {
        retryable_code(self.code())
    }

    /// The HTTP status that carries this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MalformedJson(_) | Self::InvalidRequest(_) => 400,
            Self::InvalidIdnp { .. } | Self::MissingLegalBasis | Self::MissingReason => 422,
            Self::RequestTimeout(_) => 408,
            Self::NoClientCertificate => 401,
            Self::UnknownClient(_) | Self::AccessDenied { .. } => 403,
            Self::UnknownService(_) | Self::SubjectNotFound => 404,
            Self::RejectedByRegistry(_) => 422,
            Self::RegistryTimeout(_) => 504,
            Self::RegistryUnavailable(_)
            | Self::RegistrySignature(_)
            | Self::RegistryFault(_)
            | Self::RegistryInvalidResponse(_)
            | Self::RegistryUnboundAnswer(_)
            | Self::RegistryReplayedAnswer
            | Self::RegistryResultInvalid(_) => 502,
            Self::StoreUnavailable | Self::QueueUnavailable => 503,
            Self::AsyncNotSupported(_) | Self::CallbackNotRegistered => 422,
            Self::IdempotencyConflict | Self::NotDeadLettered => 409,
            Self::UnknownExchange => 404,
            Self::UnresolvedSubject(SubjectError::Unknown) => 404,
            Self::UnresolvedSubject(SubjectError::NoIdnp) => 422,
            Self::UnresolvedSubject(SubjectError::ConflictingIdnps) => 409,
            Self::UnresolvedSubject(SubjectError::SeveralPersons) => 409,
            Self::UnknownAgency(_)
            | Self::UntrustedSigner(_)
            | Self::SignerMismatch
            | Self::EntityMismatch => 403,
            Self::UnsignedMessage(_)
            | Self::InvalidSignature(_)
            | Self::IncompleteSignature(_)
            | Self::ExpiredMessage
            | Self::MessageFromFuture => 401,
            Self::ReplayedMessage => 409,
            Self::MalformedMessage(_) | Self::MissingHeader(_) => 400,
            Self::MessageTooLarge(_) => 413,
            Self::Overloaded => 503,
            Self::Internal => 500,
        }
    }

    /// The error as an answer's data carries it.
    pub fn summary(&self) -> ErrorSummary {
        ErrorSummary::of_code(self.code(), Some(self.to_string()))
    }

    /// Schema violations, for errors that have them.
    pub fn violations(&self) -> &[Violation] {
        match self {
            Self::InvalidRequest(v) | Self::RegistryResultInvalid(v) => v,
            _ => &[],
        }
    }

    /// A short human title for the code.
    pub fn title(&self) -> &'static str {
        match self.fault() {
            Fault::Caller => "The request cannot be served as sent",
            Fault::Registry => "The registry did not give a usable answer",
            Fault::Hub => "The hub could not complete the request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_their_fault_and_caller_faults_are_never_retryable() {
        let samples = [
            ExchangeError::MissingLegalBasis,
            ExchangeError::AccessDenied {
                client: "a".into(),
                service: "b".into(),
            },
            ExchangeError::RegistryTimeout(5),
            ExchangeError::RequestTimeout(5),
            ExchangeError::RegistrySignature("x".into()),
            ExchangeError::StoreUnavailable,
        ];
        for error in samples {
            let prefix = error.code().split('.').next().unwrap();
            let fault = serde_json::to_value(error.fault()).unwrap();
            assert_eq!(fault, prefix, "{}", error.code());
            if error.fault() == Fault::Caller {
                assert!(!error.retryable());
                assert!((400..500).contains(&error.http_status()));
            }
        }
        assert!(ExchangeError::RegistryTimeout(5).retryable());
        assert!(!ExchangeError::RegistrySignature("x".into()).retryable());
    }
}
