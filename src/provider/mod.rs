//! The provider side: agencies (police, courts, schools, doctors) ask eSocial over MConnect
//! whether a person is in its care. Each request is authenticated, checked for replay, its
//! stated purpose and the agency's grant, recorded in the exchange log, answered from the
//! case-management module with only the fields the grant releases, and signed.

pub mod render;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use crate::exchange::{ExchangeError, ExchangeRequest, Exchanger, Mode, Purpose};
use esocial_catalog::{Grant, released_fields};
use esocial_mpi::MasterIndex;
use esocial_store::{Direction, ExchangeOutcome, MessageIds, NewCaseEvent, NewExchange};
use esocial_wire::crypto::jws::{JwsSigner, JwsVerifier};
use esocial_wire::crypto::offload::CryptoPool;
use esocial_wire::crypto::wssec::{SigningIdentity, TrustAnchors};
use esocial_wire::domain::text::has_words;
use esocial_wire::domain::{Idno, Idnp};

/// The case types a case can have.
pub const CASE_TYPES: &[&str] = &[
    "child_protection",
    "domestic_violence",
    "disability",
    "poverty",
];

/// The MConnect services eSocial provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InboundService {
    BeneficiaryStatus,
    ActiveCases,
    NotifyCaseRelevantEvent,
}

impl InboundService {
    pub const ALL: [Self; 3] = [
        Self::BeneficiaryStatus,
        Self::ActiveCases,
        Self::NotifyCaseRelevantEvent,
    ];

    /// By operation name (`GetActiveCases`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|service| service.name() == name)
    }

    /// By REST path segment (`active-cases`).
    pub fn from_rest_path(path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|service| service.rest_path() == path)
    }

    /// The operation name, as in the WSDL and in grants.
    pub fn name(self) -> &'static str {
        match self {
            Self::BeneficiaryStatus => "GetBeneficiaryStatus",
            Self::ActiveCases => "GetActiveCases",
            Self::NotifyCaseRelevantEvent => "NotifyCaseRelevantEvent",
        }
    }

    /// The last segment of the REST endpoint, `/mconnect/v1/<segment>`.
    pub fn rest_path(self) -> &'static str {
        match self {
            Self::BeneficiaryStatus => "beneficiary-status",
            Self::ActiveCases => "active-cases",
            Self::NotifyCaseRelevantEvent => "case-events",
        }
    }

    /// The case-management service that holds the data, if the answer comes from it.
    fn case_service(self) -> Option<&'static str> {
        match self {
            Self::BeneficiaryStatus => Some("cases.beneficiary-status"),
            Self::ActiveCases => Some("cases.active-cases"),
            Self::NotifyCaseRelevantEvent => None,
        }
    }

    /// Every dotted path an answer can carry; grants may name only these.
    fn answer_fields(self) -> &'static [&'static str] {
        match self {
            Self::BeneficiaryStatus => &[
                "idnp",
                "beneficiary",
                "benefits",
                "benefits.code",
                "benefits.name",
                "benefits.since",
                "benefits.monthlyAmount",
            ],
            Self::ActiveCases => &[
                "idnp",
                "hasActiveCase",
                "cases",
                "cases.caseId",
                "cases.type",
                "cases.openedAt",
                "cases.riskLevel",
                "cases.agency",
                "cases.agency.code",
                "cases.agency.name",
                "cases.caseManager",
                "cases.caseManager.name",
                "cases.caseManager.workPhone",
                "cases.caseManager.workEmail",
                "cases.notes",
            ],
            Self::NotifyCaseRelevantEvent => &["eventId", "receivedAt", "status"],
        }
    }

    pub fn answer_has_field(self, field: &str) -> bool {
        self.answer_fields().contains(&field)
    }

    /// The fields every answer keeps whatever the grant says (what identifies the answer).
    fn always_released(self) -> &'static [&'static str] {
        match self {
            Self::BeneficiaryStatus | Self::ActiveCases => &["idnp"],
            Self::NotifyCaseRelevantEvent => &["eventId", "receivedAt", "status"],
        }
    }
}

/// A registered agency.
#[derive(Debug, Clone)]
pub struct Agency {
    pub name: String,
    pub idno: Idno,
}

/// What one agency may ask of one service and see of its answers.
#[derive(Debug, Clone, Default)]
pub struct AgencyGrant {
    /// Dotted answer fields; `None` means all.
    pub fields: Option<Vec<String>>,
    /// `GetActiveCases`: the case types the agency may learn of; `None` means all.
    pub case_types: Option<Vec<String>>,
}

/// The MConnect headers of a request, as the transport read them from the signed message.
#[derive(Debug, Clone, Default)]
pub struct CallHeaders {
    pub calling_user: String,
    pub calling_entity: String,
    pub call_basis: String,
    pub call_reason: String,
    pub message_id: String,
}

/// A request whose signature and signer the transport verified.
pub struct VerifiedCall {
    pub agency: String,
    pub service: InboundService,
    pub headers: CallHeaders,
    /// When the request's signature expires: its message id is remembered until then.
    pub expires: SystemTime,
    /// The canonical request (`{"idnp": …}` or the event).
    pub request: Value,
    /// SHA-256 of the signed request as received.
    pub request_digest: String,
}

/// A served request: the answer to sign and the id the answer carries.
#[derive(Debug)]
pub struct Served {
    pub exchange_id: Uuid,
    pub answer_message_id: String,
    pub answer: Value,
}

/// A refused request: the error, and the exchange that records it.
#[derive(Debug)]
pub struct Refused {
    pub exchange_id: Option<Uuid>,
    pub error: ExchangeError,
}

/// The keys of the provider side: the hub signs its answers with its MConnect identity and
/// trusts agency signatures that chain to the client CA.
pub struct ProviderKeys {
    pub identity: Arc<SigningIdentity>,
    pub jws_signer: Arc<JwsSigner>,
    pub trust: Arc<TrustAnchors>,
    pub jws_verifier: Arc<JwsVerifier>,
}

/// The provider: agencies, their grants and what answering needs.
pub struct Provider {
    pub keys: ProviderKeys,
    agencies: BTreeMap<String, Agency>,
    grants: BTreeMap<(String, InboundService), AgencyGrant>,
    exchanger: Exchanger,
    mpi: Arc<MasterIndex>,
    crypto: CryptoPool,
    /// The events flow, which takes the events agencies report.
    events: Option<crate::events::Events>,
}

impl Provider {
    pub fn new(
        keys: ProviderKeys,
        agencies: impl IntoIterator<Item = Agency>,
        grants: impl IntoIterator<Item = (String, InboundService, AgencyGrant)>,
        exchanger: Exchanger,
        mpi: Arc<MasterIndex>,
    ) -> Self {
        Self {
            keys,
            agencies: agencies
                .into_iter()
                .map(|agency| (agency.name.clone(), agency))
                .collect(),
            grants: grants
                .into_iter()
                .map(|(agency, service, grant)| ((agency, service), grant))
                .collect(),
            exchanger,
            mpi,
            crypto: CryptoPool::default(),
            events: None,
        }
    }

    /// Hands the events agencies report to the events flow as well.
    pub fn with_events(mut self, events: Option<crate::events::Events>) -> Self {
        self.events = events;
        self
    }

    /// The agency a TLS client certificate's common name names, if registered.
    pub fn agency(&self, common_name: &str) -> Result<&Agency, ExchangeError> {
        self.agencies
            .get(common_name)
            .ok_or_else(|| ExchangeError::UnknownAgency(common_name.to_string()))
    }

    /// Runs the signature work of a message of `size` bytes, off the request workers when it
    /// is large (see [`CryptoPool`]).
    pub async fn crypto<T: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ExchangeError> {
        self.crypto.run(size, work).await.map_err(|error| {
            warn!(%error, "refusing the message");
            ExchangeError::Overloaded
        })
    }

    /// Serves a verified request: purpose, replay, grant, record, answer, minimise, close.
    pub async fn serve(&self, call: VerifiedCall) -> Result<Served, Refused> {
        let subject = call
            .request
            .get("idnp")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let row = self.row(&call.agency, call.service.name(), &call.headers, subject);
        let exchange_id = row.id;
        self.exchanger.open(&row).await.map_err(|error| Refused {
            exchange_id: None,
            error,
        })?;
        let answer_message_id = Uuid::new_v4().to_string();
        let outcome = self.answer(exchange_id, &call).await;
        let message_ids = MessageIds {
            request: Some(call.headers.message_id.clone()).filter(|id| !id.is_empty()),
            response: Some(answer_message_id.clone()),
        };
        let (log, result) = match outcome {
            Ok((answer, released)) => (
                ExchangeOutcome::Completed {
                    request_digest: call.request_digest.clone(),
                    response_digest: esocial_wire::mconnect::message_digest(
                        answer.to_string().as_bytes(),
                    ),
                    message_ids,
                    fields_released: Some(released),
                },
                Ok(answer),
            ),
            Err(error) => (
                ExchangeOutcome::Failed {
                    error_code: error.code().to_string(),
                    request_digest: Some(call.request_digest.clone()),
                    response_digest: None,
                    message_ids,
                },
                Err(error),
            ),
        };
        self.exchanger
            .close(exchange_id, &log, None, OffsetDateTime::now_utc())
            .await
            .map_err(|error| Refused {
                exchange_id: Some(exchange_id),
                error,
            })?;
        match result {
            Ok(answer) => {
                info!(%exchange_id, agency = %call.agency, service = call.service.name(), "inbound request answered");
                Ok(Served {
                    exchange_id,
                    answer_message_id,
                    answer,
                })
            }
            Err(error) => {
                warn!(%exchange_id, agency = %call.agency, service = call.service.name(), code = error.code(), "inbound request refused");
                Err(Refused {
                    exchange_id: Some(exchange_id),
                    error,
                })
            }
        }
    }

    /// Records a request refused before it could be served (unknown agency, bad signature,
    /// unreadable message): it still gets a row with its error. Best effort: a store failure
    /// here changes nothing for the caller, who is refused either way.
    pub async fn record_refusal(
        &self,
        agency: &str,
        service: &str,
        headers: &CallHeaders,
        request_digest: &str,
        error: &ExchangeError,
    ) -> Option<Uuid> {
        let row = self.row(agency, service, headers, "");
        let (exchange_id, now) = (row.id, row.received_at);
        self.exchanger.open(&row).await.ok()?;
        let outcome = ExchangeOutcome::Failed {
            error_code: error.code().to_string(),
            request_digest: Some(request_digest.to_string()),
            response_digest: None,
            message_ids: MessageIds {
                request: Some(headers.message_id.clone()).filter(|id| !id.is_empty()),
                response: None,
            },
        };
        self.exchanger
            .close(exchange_id, &outcome, None, now)
            .await
            .ok()?;
        warn!(%exchange_id, service, code = error.code(), "inbound request refused");
        Some(exchange_id)
    }

    /// The row of an inbound request: the agency, the service and the purpose it stated.
    fn row(
        &self,
        agency: &str,
        service: &str,
        headers: &CallHeaders,
        subject: &str,
    ) -> NewExchange {
        let purpose = Purpose {
            legal_basis: headers.call_basis.clone(),
            reason: headers.call_reason.clone(),
            case_id: None,
        };
        self.exchanger.new_row(
            Direction::Inbound,
            agency,
            service,
            &purpose,
            &headers.calling_user,
            subject,
        )
    }

    /// The checks and the work, in the order whose failure says the most.
    async fn answer(
        &self,
        exchange_id: Uuid,
        call: &VerifiedCall,
    ) -> Result<(Value, Vec<String>), ExchangeError> {
        let agency = self.agency(&call.agency)?.clone();
        let headers = &call.headers;
        if headers.message_id.trim().is_empty() {
            return Err(ExchangeError::MissingHeader("MessageId"));
        }
        let calling_user =
            Idnp::parse(&headers.calling_user).map_err(|error| ExchangeError::InvalidIdnp {
                field: "CallingUser",
                problem: error.to_string(),
            })?;
        if headers.calling_entity != agency.idno.as_str() {
            return Err(ExchangeError::EntityMismatch);
        }
        if !has_words(&headers.call_basis) {
            return Err(ExchangeError::MissingLegalBasis);
        }
        if !has_words(&headers.call_reason) {
            return Err(ExchangeError::MissingReason);
        }
        self.remember_request(&agency.name, &headers.message_id, call.expires)
            .await?;
        let Some(grant) = self.grants.get(&(agency.name.clone(), call.service)) else {
            return Err(ExchangeError::AccessDenied {
                client: agency.name.clone(),
                service: call.service.name().to_string(),
            });
        };
        let subject = request_idnp(&call.request)?;
        let person = self
            .mpi
            .person_with_idnp(subject.expose())
            .map_err(ExchangeError::UnresolvedSubject);
        let audited = self
            .mpi
            .audit(
                &agency.name,
                &format!("inbound-{}", call.service.name()),
                person.as_ref().ok().copied().flatten(),
                if person.is_ok() { "ok" } else { "refused" },
            )
            .await;
        if audited.is_err() {
            return Err(ExchangeError::StoreUnavailable);
        }
        let person = person?;
        let answer = match call.service.case_service() {
            Some(case_service) => {
                let purpose = Purpose {
                    legal_basis: headers.call_basis.clone(),
                    reason: headers.call_reason.clone(),
                    case_id: None,
                };
                let data = match person {
                    // eSocial knows everyone in its care: no person, no case.
                    None => None,
                    Some(_) => {
                        self.case_data(
                            exchange_id,
                            &agency,
                            case_service,
                            &subject,
                            purpose,
                            calling_user,
                        )
                        .await?
                    }
                };
                self.shape(call.service, subject.expose(), data, grant)
            }
            None => {
                self.store_event(exchange_id, &agency.name, &subject, person, &call.request)
                    .await?
            }
        };
        let answer = minimise(call.service, answer, grant);
        let released = released_fields(&answer);
        Ok((answer, released))
    }

    /// Asks the case-management module as a child exchange of the inbound one. `None` when
    /// the module knows no such person.
    async fn case_data(
        &self,
        exchange_id: Uuid,
        agency: &Agency,
        case_service: &str,
        subject: &Idnp,
        purpose: Purpose,
        calling_user: Idnp,
    ) -> Result<Option<Value>, ExchangeError> {
        let service = self
            .exchanger
            .catalog()
            .service(case_service)
            .cloned()
            .ok_or(ExchangeError::Internal)?;
        let request = ExchangeRequest {
            mode: Mode::Sync,
            service: case_service.to_string(),
            subject: subject.clone(),
            purpose,
            calling_user,
            params: BTreeMap::new(),
            callback_url: None,
        };
        // The whole answer comes back to the hub; the agency's grant trims it afterwards.
        let whole = Grant {
            client: agency.name.clone(),
            service: case_service.to_string(),
            fields: None,
        };
        match self
            .exchanger
            .run_service(
                &agency.name,
                &agency.idno,
                &service,
                &whole,
                &request,
                Some(exchange_id),
            )
            .await
        {
            Ok(result) => Ok(Some(result.data)),
            Err(failure) if matches!(failure.error, ExchangeError::SubjectNotFound) => Ok(None),
            Err(failure) => Err(failure.error),
        }
    }

    /// The canonical answer from the module's data (or from its absence).
    fn shape(
        &self,
        service: InboundService,
        idnp: &str,
        data: Option<Value>,
        grant: &AgencyGrant,
    ) -> Value {
        let mut data = data.unwrap_or_else(|| json!({}));
        data["idnp"] = json!(idnp);
        match service {
            InboundService::BeneficiaryStatus => {
                let benefits = data.get("benefits").cloned().unwrap_or_else(|| json!([]));
                let beneficiary = benefits.as_array().is_some_and(|b| !b.is_empty());
                data["benefits"] = benefits;
                if data.get("beneficiary").is_none() {
                    data["beneficiary"] = json!(beneficiary);
                }
            }
            InboundService::ActiveCases => {
                let mut cases: Vec<Value> = data
                    .get("cases")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(types) = &grant.case_types {
                    cases.retain(|case| {
                        case.get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| types.iter().any(|allowed| allowed == t))
                    });
                }
                data["hasActiveCase"] = json!(!cases.is_empty());
                data["cases"] = Value::Array(cases);
            }
            InboundService::NotifyCaseRelevantEvent => {}
        }
        data
    }

    async fn store_event(
        &self,
        exchange_id: Uuid,
        agency: &str,
        subject: &Idnp,
        person: Option<esocial_mpi::index::PersonId>,
        request: &Value,
    ) -> Result<Value, ExchangeError> {
        let event = CaseEvent::parse(request)?;
        let event_id = Uuid::now_v7();
        let received_at = crate::exchange::now_text(OffsetDateTime::now_utc());
        let sealed = self.exchanger.sealer().seal(request.to_string().as_bytes());
        self.exchanger
            .store()
            .insert_case_event(&NewCaseEvent {
                id: event_id,
                exchange_id,
                agency: agency.to_string(),
                event_type: event.event_type,
                subject_digest: self.exchanger.digester().digest(subject.expose()),
                person_id: person.map(|p| p.to_string()),
                severity: event.severity,
                sealed_event: sealed,
                received_at: received_at.clone(),
            })
            .await
            .map_err(|error| {
                warn!(%error, "cannot store the case event; refusing it");
                ExchangeError::StoreUnavailable
            })?;
        if let Some(events) = &self.events {
            let mut data = json!({
                "idnp": subject.expose(),
                "agency": agency,
                "eventType": request["eventType"],
                "occurredAt": request["occurredAt"],
                "severity": request["severity"],
            });
            for optional in ["summary", "reference"] {
                if let Some(value) = request.get(optional) {
                    data[optional] = value.clone();
                }
            }
            let reported = esocial_wire::mconnect::cloudevent::CloudEvent {
                id: event_id.to_string(),
                source: format!("urn:md:gov:agency:{agency}"),
                event_type: crate::events::AGENCY_REPORT_TYPE.into(),
                partition_key: Some(format!("idnp:{}", subject.expose())),
                time: request["occurredAt"].as_str().map(str::to_string),
                data,
                offset: None,
            };
            events
                .take(&[reported], crate::events::Channel::Agency(agency))
                .await
                .map_err(|refusal| {
                    warn!(%refusal, "cannot take the case event into the events flow; refusing it");
                    ExchangeError::StoreUnavailable
                })?;
        }
        Ok(json!({"eventId": event_id, "receivedAt": received_at, "status": "accepted"}))
    }

    /// Remembers an agency's message id until its signature expires; a reused id is a replay.
    async fn remember_request(
        &self,
        agency: &str,
        message_id: &str,
        expires: SystemTime,
    ) -> Result<(), ExchangeError> {
        let expires_ms = expires
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
            + esocial_wire::crypto::wssec::CLOCK_SKEW.as_millis() as i64;
        match self
            .exchanger
            .store()
            .remember_message(agency, message_id, expires_ms)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(ExchangeError::ReplayedMessage),
            Err(error) => {
                warn!(%error, "cannot record the request's message id; refusing it");
                Err(ExchangeError::StoreUnavailable)
            }
        }
    }
}

/// The subject's IDNP from a canonical request.
fn request_idnp(request: &Value) -> Result<Idnp, ExchangeError> {
    let text = request
        .get("idnp")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("idnp"))?;
    Idnp::parse(text).map_err(|error| ExchangeError::InvalidIdnp {
        field: "IDNP",
        problem: error.to_string(),
    })
}

fn missing(field: &str) -> ExchangeError {
    ExchangeError::InvalidRequest(vec![esocial_catalog::json_schema::Violation {
        pointer: format!("/{field}"),
        message: "is required".into(),
    }])
}

fn invalid(field: &str, message: &str) -> ExchangeError {
    ExchangeError::InvalidRequest(vec![esocial_catalog::json_schema::Violation {
        pointer: format!("/{field}"),
        message: message.into(),
    }])
}

/// A checked `NotifyCaseRelevantEvent` request.
struct CaseEvent {
    event_type: String,
    severity: String,
}

impl CaseEvent {
    fn parse(request: &Value) -> Result<Self, ExchangeError> {
        let text = |field: &str| request.get(field).and_then(Value::as_str);
        if let Some(object) = request.as_object()
            && let Some(extra) = object.keys().find(|key| {
                ![
                    "idnp",
                    "eventType",
                    "occurredAt",
                    "severity",
                    "summary",
                    "reference",
                ]
                .contains(&key.as_str())
            })
        {
            return Err(invalid(extra, "is not a field of a case event"));
        }
        let event_type = text("eventType").ok_or_else(|| missing("eventType"))?;
        let well_formed = (3..=100).contains(&event_type.len())
            && event_type.contains('.')
            && event_type.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !well_formed {
            return Err(invalid(
                "eventType",
                "must be dotted lower-case words, e.g. police.domestic-violence-callout",
            ));
        }
        let occurred = text("occurredAt").ok_or_else(|| missing("occurredAt"))?;
        let occurred =
            OffsetDateTime::parse(occurred, &time::format_description::well_known::Rfc3339)
                .map_err(|_| invalid("occurredAt", "must be an RFC 3339 date-time"))?;
        if occurred > OffsetDateTime::now_utc() + esocial_wire::crypto::wssec::CLOCK_SKEW {
            return Err(invalid("occurredAt", "lies in the future"));
        }
        let severity = text("severity").ok_or_else(|| missing("severity"))?;
        if !["low", "medium", "high"].contains(&severity) {
            return Err(invalid("severity", "must be low, medium or high"));
        }
        let summary = text("summary").ok_or_else(|| missing("summary"))?;
        if summary.trim().is_empty() || summary.chars().count() > 2000 {
            return Err(invalid("summary", "must be 1 to 2000 characters"));
        }
        if let Some(reference) = request.get("reference")
            && reference.as_str().is_none_or(|r| r.chars().count() > 100)
        {
            return Err(invalid(
                "reference",
                "must be text of at most 100 characters",
            ));
        }
        Ok(Self {
            event_type: event_type.to_string(),
            severity: severity.to_string(),
        })
    }
}

/// Removes every field the grant does not release, before anything is signed.
pub fn minimise(service: InboundService, answer: Value, grant: &AgencyGrant) -> Value {
    let Some(fields) = &grant.fields else {
        return answer;
    };
    let mut paths: Vec<String> = fields.clone();
    paths.extend(service.always_released().iter().map(|f| f.to_string()));
    Grant {
        client: String::new(),
        service: String::new(),
        fields: Some(paths),
    }
    .filter(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Value {
        json!({
            "idnp": "2000000000004",
            "hasActiveCase": true,
            "cases": [
                {"caseId": "C-1", "type": "child_protection", "riskLevel": "high",
                 "agency": {"code": "DASPF-Orhei", "name": "DASPF Orhei"},
                 "caseManager": {"name": "Ion Rusu", "workPhone": "+37323522222", "workEmail": "i.rusu@social.gov.md"},
                 "notes": "Evaluare în curs"},
                {"caseId": "C-2", "type": "poverty", "riskLevel": "low", "notes": "x"}
            ]
        })
    }

    #[test]
    fn minimisation_reaches_into_list_items_and_keeps_the_subject() {
        let grant = AgencyGrant {
            fields: Some(vec!["cases.type".into(), "cases.caseManager".into()]),
            case_types: None,
        };
        let answer = minimise(InboundService::ActiveCases, cases(), &grant);
        assert_eq!(
            answer,
            json!({"idnp": "2000000000004", "cases": [
                {"type": "child_protection", "caseManager": {"name": "Ion Rusu", "workPhone": "+37323522222", "workEmail": "i.rusu@social.gov.md"}},
                {"type": "poverty"}
            ]})
        );
        let released = released_fields(&answer);
        assert!(
            !released
                .iter()
                .any(|f| f.contains("notes") || f.contains("risk"))
        );
        assert!(released.contains(&"cases.caseManager.workPhone".to_string()));
    }

    #[test]
    fn every_grantable_field_is_a_field_of_the_answer() {
        for service in InboundService::ALL {
            assert_eq!(InboundService::parse(service.name()), Some(service));
            assert_eq!(
                InboundService::from_rest_path(service.rest_path()),
                Some(service)
            );
            for field in service.always_released() {
                assert!(service.answer_has_field(field));
            }
        }
        assert!(!InboundService::ActiveCases.answer_has_field("benefits"));
    }

    #[test]
    fn case_events_are_checked_field_by_field() {
        let good = json!({"idnp": "2000000000004", "eventType": "police.domestic-violence-callout",
            "occurredAt": "2026-11-30T22:10:00Z", "severity": "high", "summary": "Apel 112"});
        assert!(CaseEvent::parse(&good).is_ok());
        for (field, value) in [
            ("eventType", json!("Police Callout")),
            ("occurredAt", json!("yesterday")),
            ("occurredAt", json!("2999-01-01T00:00:00Z")),
            ("severity", json!("urgent")),
            ("summary", json!("   ")),
            ("notes", json!("x")),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            match CaseEvent::parse(&bad) {
                Err(ExchangeError::InvalidRequest(v)) => {
                    assert_eq!(v[0].pointer, format!("/{field}"))
                }
                other => panic!("{field}: {:?}", other.err()),
            }
        }
    }
}
