//! Referrals and transfers between agencies. A territorial agency refers a beneficiary to a
//! service provider, or hands a case file to another agency: the document travels signed by
//! the sender (a compact JWS whose payload the sender sealed for the receiver) from the
//! sender's system, through the hub's outbox, to the receiver's endpoint, and the hub keeps
//! only the envelope and the states. Each hand-off is a state machine: `sent` (recorded, the
//! document on its way), `received` (the receiver's endpoint took it), then `accepted` or
//! `declined` by the receiver; past its deadline it is escalated once, to both sides. Every
//! step is audited and tells the other side; a step is written once, whatever the retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::SettingsError;
use crate::exchange::Exchanger;
use crate::outbox::WEBHOOK;
use esocial_store::{AuditEntryRow, HandoffRow, NewDelivery, NewHandoff, Recorded, Store};
use esocial_wire::crypto::jws::{self, JwsVerifier};
use esocial_wire::domain::Idnp;
use esocial_wire::domain::text::has_words;
use esocial_wire::mconnect::cloudevent::CloudEvent;

/// `[handoffs]`: who may refer and transfer, and where each receives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffSettings {
    pub parties: Vec<PartySettings>,
    /// Days the receiver has to decide, unless the sender gives its own `respondBy`.
    #[serde(default = "default_respond_within_days")]
    pub respond_within_days: u32,
}

fn default_respond_within_days() -> u32 {
    10
}

/// A territorial agency or a service provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySettings {
    /// Stable code, e.g. `DASPF-CAHUL`.
    pub code: String,
    pub name: String,
    pub kind: PartyKind,
    /// Common name of the certificate its system calls the hub and signs documents with.
    pub client: String,
    /// HTTPS address where it receives documents and notices (signed CloudEvents).
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyKind {
    /// A territorial social-assistance agency: sends referrals and transfers, receives
    /// transfers.
    Agency,
    /// A service provider: receives referrals.
    Provider,
}

impl HandoffSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut codes = std::collections::BTreeSet::new();
        let mut clients = std::collections::BTreeSet::new();
        for (index, party) in self.parties.iter().enumerate() {
            let key = |field: &str| format!("handoffs.parties[{index}].{field}");
            if party.code.is_empty()
                || !party
                    .code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(SettingsError::invalid(
                    key("code"),
                    "must be upper-case letters, digits and hyphens",
                ));
            }
            if !codes.insert(party.code.as_str()) {
                return Err(SettingsError::invalid(key("code"), "is given twice"));
            }
            if !clients.insert(party.client.as_str()) {
                return Err(SettingsError::invalid(
                    key("client"),
                    "another party has this certificate",
                ));
            }
            if !party.url.starts_with("https://") {
                return Err(SettingsError::invalid(
                    key("url"),
                    "must be an https:// address",
                ));
            }
        }
        if !(1..=90).contains(&self.respond_within_days) {
            return Err(SettingsError::invalid(
                "handoffs.respond_within_days",
                "must be between 1 and 90",
            ));
        }
        Ok(())
    }
}

/// A referral or a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    Referral,
    Transfer,
}

impl HandoffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Transfer => "transfer",
        }
    }

    fn event_name(self) -> &'static str {
        match self {
            Self::Referral => "Referral",
            Self::Transfer => "Transfer",
        }
    }

    /// The kind of a stored hand-off (the store holds only the two names `as_str` gives).
    fn of(row: &HandoffRow) -> Self {
        if row.kind == Self::Referral.as_str() {
            Self::Referral
        } else {
            Self::Transfer
        }
    }
}

/// Why a hand-off request is refused; messages name the field, never its value.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("`{0}` is not a party to referrals and transfers")]
    NotAParty(String),
    #[error("`{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("the document's signature is refused: {0}")]
    Signature(String),
    #[error("this Idempotency-Key was used for another request")]
    KeyReused,
    #[error("no hand-off with this id concerns the caller")]
    NotFound,
    #[error("only the receiver decides")]
    NotTheReceiver,
    #[error("the hand-off is {0}; a decision is taken once the receiver has the document")]
    NotReceived(String),
    #[error("the hand-off was already {0}")]
    AlreadyDecided(String),
    #[error("the store is unavailable; nothing was recorded, send the request again")]
    StoreUnavailable,
}

impl HandoffError {
    fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            problem: problem.into(),
        }
    }

    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            Self::NotAParty(_) => (403, "caller.not_a_party"),
            Self::Invalid { .. } => (422, "caller.invalid_request"),
            Self::Signature(_) => (422, "caller.invalid_signature"),
            Self::KeyReused => (409, "caller.idempotency_key_reused"),
            Self::NotFound => (404, "caller.no_such_handoff"),
            Self::NotTheReceiver => (403, "caller.not_the_receiver"),
            Self::NotReceived(_) => (409, "caller.not_received"),
            Self::AlreadyDecided(_) => (409, "caller.already_decided"),
            Self::StoreUnavailable => (503, "hub.store_unavailable"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestBody {
    to: String,
    case_id: String,
    subject: SubjectBody,
    purpose: PurposeBody,
    /// RFC 3339; the settings' `respond_within_days` from now when absent.
    respond_by: Option<String>,
    document: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectBody {
    idnp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PurposeBody {
    legal_basis: String,
    reason: String,
}

/// The receiver's decision.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub decision: String,
    pub reason: Option<String>,
}

/// Referrals and transfers, shared by the API, the outbox and the deadline watch.
#[derive(Clone)]
pub struct Handoffs {
    inner: Arc<Inner>,
}

struct Inner {
    exchanger: Exchanger,
    parties: BTreeMap<String, PartySettings>,
    /// Certificate common name → party code.
    by_client: HashMap<String, String>,
    verifier: JwsVerifier,
    respond_within_days: u32,
    delivering: Arc<tokio::sync::Notify>,
}

/// `source` of the envelopes and notices the hub sends parties.
const SOURCE: &str = "urn:md:gov:esocial:hub";
/// The purpose of the delivery that carries the document.
pub const DOCUMENT: &str = "document";

impl Handoffs {
    pub fn new(
        settings: &HandoffSettings,
        exchanger: Exchanger,
        verifier: JwsVerifier,
        delivering: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                exchanger,
                parties: settings
                    .parties
                    .iter()
                    .map(|party| (party.code.clone(), party.clone()))
                    .collect(),
                by_client: settings
                    .parties
                    .iter()
                    .map(|party| (party.client.clone(), party.code.clone()))
                    .collect(),
                verifier,
                respond_within_days: settings.respond_within_days,
                delivering,
            }),
        }
    }

    fn store(&self) -> &Store {
        self.inner.exchanger.store()
    }

    /// The endpoints the outbox sends to: each party's code and address.
    pub fn endpoints(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .parties
            .values()
            .map(|party| (party.code.as_str(), party.url.as_str()))
    }

    fn party_of(&self, client: &str) -> Result<&PartySettings, HandoffError> {
        self.inner
            .by_client
            .get(client)
            .and_then(|code| self.inner.parties.get(code))
            .ok_or_else(|| HandoffError::NotAParty(client.to_string()))
    }

    /// Records a referral or a transfer from the party behind `client`; the hand-off and
    /// whether it is new (a retry with the same key gives the first).
    pub async fn send(
        &self,
        kind: HandoffKind,
        client: &str,
        idempotency_key: &str,
        body: &[u8],
    ) -> Result<(HandoffRow, bool), HandoffError> {
        let sender = self.party_of(client)?;
        if sender.kind != PartyKind::Agency {
            return Err(HandoffError::NotAParty(client.to_string()));
        }
        let request: RequestBody = serde_json::from_slice(body)
            .map_err(|error| HandoffError::invalid("body", json_problem(&error)))?;
        let receiver = self
            .inner
            .parties
            .get(&request.to)
            .ok_or_else(|| HandoffError::invalid("to", "is not a known party"))?;
        let wanted = match kind {
            HandoffKind::Referral => PartyKind::Provider,
            HandoffKind::Transfer => PartyKind::Agency,
        };
        if receiver.kind != wanted || receiver.code == sender.code {
            return Err(HandoffError::invalid(
                "to",
                match kind {
                    HandoffKind::Referral => "must be a service provider",
                    HandoffKind::Transfer => "must be another agency",
                },
            ));
        }
        let subject = Idnp::parse(&request.subject.idnp)
            .map_err(|error| HandoffError::invalid("subject.idnp", error.to_string()))?;
        if request.case_id.is_empty() || request.case_id.len() > 64 {
            return Err(HandoffError::invalid(
                "caseId",
                "must be 1 to 64 characters",
            ));
        }
        if !has_words(&request.purpose.legal_basis) {
            return Err(HandoffError::invalid(
                "purpose.legalBasis",
                "must state the legal basis in words",
            ));
        }
        if !has_words(&request.purpose.reason) {
            return Err(HandoffError::invalid(
                "purpose.reason",
                "must state the reason in words",
            ));
        }
        let now = esocial_store::now_millis();
        let respond_by = match &request.respond_by {
            None => now + i64::from(self.inner.respond_within_days) * 86_400_000,
            Some(text) => {
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| HandoffError::invalid("respondBy", "must be an RFC 3339 time"))?;
                let millis = (at.unix_timestamp_nanos() / 1_000_000) as i64;
                if millis <= now || millis > now + 90 * 86_400_000 {
                    return Err(HandoffError::invalid(
                        "respondBy",
                        "must be in the future, at most 90 days ahead",
                    ));
                }
                millis
            }
        };
        let verified =
            jws::verify_compact(&request.document, &self.inner.verifier, SystemTime::now())
                .map_err(|error| HandoffError::Signature(error.to_string()))?;
        if verified.signer_common_name != sender.client {
            return Err(HandoffError::Signature(
                "the document is not signed by the sender".into(),
            ));
        }
        let id = Uuid::now_v7().to_string();
        let subject_digest = self.inner.exchanger.digests(subject.expose()).remove(0);
        let delivery_id = Uuid::now_v7().to_string();
        let envelope = CloudEvent {
            id: delivery_id.clone(),
            source: SOURCE.into(),
            event_type: format!("Md.Esocial.Hub.{}.Sent", kind.event_name()),
            partition_key: Some(format!("idnp:{}", subject.expose())),
            time: Some(now_text()),
            data: json!({
                "handoffId": id,
                "kind": kind.as_str(),
                "from": sender.code,
                "to": receiver.code,
                "caseId": request.case_id,
                "subject": {"idnp": subject.expose()},
                "purpose": {"legalBasis": request.purpose.legal_basis, "reason": request.purpose.reason},
                "respondBy": millis_text(respond_by),
                "document": request.document,
            }),
            offset: None,
        };
        let handoff = NewHandoff {
            id: id.clone(),
            kind: kind.as_str().into(),
            sender: sender.code.clone(),
            receiver: receiver.code.clone(),
            idempotency_key: idempotency_key.into(),
            request_digest: esocial_wire::mconnect::message_digest(body),
            case_id: request.case_id.clone(),
            subject_digest: subject_digest.clone(),
            legal_basis: request.purpose.legal_basis.clone(),
            reason: request.purpose.reason.clone(),
            document_digest: esocial_wire::mconnect::message_digest(request.document.as_bytes()),
            respond_by,
        };
        let document = self.delivery(
            delivery_id,
            DOCUMENT,
            &receiver.code,
            &request.case_id,
            &envelope,
        );
        let mut entry = self.entry(
            "handoff.sent",
            &handoff.kind,
            &subject_digest,
            &request.case_id,
        );
        entry.client_id = Some(client.into());
        entry.legal_basis = Some(handoff.legal_basis.clone());
        entry.reason = Some(handoff.reason.clone());
        entry.request_digest = Some(handoff.document_digest.clone());
        match self
            .store()
            .record_handoff(&handoff, &document, &entry)
            .await
            .map_err(|_| HandoffError::StoreUnavailable)?
        {
            Recorded::New => {
                self.inner.delivering.notify_one();
                info!(handoff = %id, kind = kind.as_str(), "hand-off recorded");
                let row = self
                    .store()
                    .handoff(&id)
                    .await
                    .ok()
                    .flatten()
                    .ok_or(HandoffError::StoreUnavailable)?;
                Ok((row, true))
            }
            Recorded::Before(row) if row.request_digest == handoff.request_digest => {
                Ok((*row, false))
            }
            Recorded::Before(_) => Err(HandoffError::KeyReused),
        }
    }

    /// A hand-off, for its sender, its receiver or an operator.
    pub async fn status(&self, client: &str, id: &str) -> Result<HandoffRow, HandoffError> {
        let row = self
            .store()
            .handoff(id)
            .await
            .map_err(|_| HandoffError::StoreUnavailable)?
            .ok_or(HandoffError::NotFound)?;
        let party = self.inner.by_client.get(client);
        let concerned = party.is_some_and(|code| *code == row.sender || *code == row.receiver);
        if concerned || self.inner.exchanger.is_operator(client) {
            Ok(row)
        } else {
            Err(HandoffError::NotFound)
        }
    }

    /// The receiver accepts or declines; deciding the same again changes nothing.
    pub async fn decide(
        &self,
        client: &str,
        id: &str,
        body: &DecisionBody,
    ) -> Result<HandoffRow, HandoffError> {
        let row = self.status(client, id).await?;
        let caller = self.party_of(client)?;
        if caller.code != row.receiver {
            return Err(HandoffError::NotTheReceiver);
        }
        let decision = match body.decision.as_str() {
            "accepted" | "declined" => body.decision.as_str(),
            _ => {
                return Err(HandoffError::invalid(
                    "decision",
                    "must be accepted or declined",
                ));
            }
        };
        if decision == "declined" && !body.reason.as_deref().is_some_and(has_words) {
            return Err(HandoffError::invalid(
                "reason",
                "a decline must say why, in words",
            ));
        }
        match row.state.as_str() {
            "received" => {}
            state if state == decision => return Ok(row),
            "sent" => return Err(HandoffError::NotReceived(row.state)),
            _ => return Err(HandoffError::AlreadyDecided(row.state)),
        }
        let kind = HandoffKind::of(&row);
        let step = if decision == "accepted" {
            "Accepted"
        } else {
            "Declined"
        };
        let notice = self.notice(
            &row,
            kind,
            step,
            &row.sender,
            json!({"reason": body.reason}),
        );
        let entry = self.entry(
            &format!("handoff.{decision}"),
            &row.kind,
            &row.subject_digest,
            &row.case_id,
        );
        let decided = self
            .store()
            .decide_handoff(id, decision, body.reason.as_deref(), &notice, &entry)
            .await
            .map_err(|_| HandoffError::StoreUnavailable)?;
        self.inner.delivering.notify_one();
        let now = self
            .store()
            .handoff(id)
            .await
            .ok()
            .flatten()
            .ok_or(HandoffError::StoreUnavailable)?;
        match (decided, now.state.as_str()) {
            (true, _) => Ok(now),
            (false, state) if state == decision => Ok(now),
            (false, _) => Err(HandoffError::AlreadyDecided(now.state)),
        }
    }

    /// The receiver's endpoint took the document: the hand-off is `received`, the sender is
    /// told, and the document leaves the outbox. `false` when the delivery's lease passed.
    pub async fn document_delivered(
        &self,
        delivery_id: &str,
        holder: &str,
        handoff_id: &str,
    ) -> Result<bool, esocial_store::StoreError> {
        let Some(row) = self.store().handoff(handoff_id).await? else {
            return Ok(false);
        };
        let kind = HandoffKind::of(&row);
        let notice = self.notice(&row, kind, "Received", &row.sender, json!({}));
        let entry = self.entry(
            "handoff.received",
            &row.kind,
            &row.subject_digest,
            &row.case_id,
        );
        let written = self
            .store()
            .handoff_received(delivery_id, holder, handoff_id, &notice, &entry)
            .await?;
        if written {
            self.inner.delivering.notify_one();
        }
        Ok(written)
    }

    /// Escalates every overdue hand-off once; how many.
    pub async fn escalate_overdue(&self) -> Result<usize, esocial_store::StoreError> {
        let mut escalated = 0;
        for row in self.store().overdue_handoffs(100).await? {
            let kind = HandoffKind::of(&row);
            let detail = json!({"state": row.state, "respondBy": millis_text(row.respond_by)});
            let notices = [&row.sender, &row.receiver]
                .into_iter()
                .map(|party| self.notice(&row, kind, "Escalated", party, detail.clone()))
                .collect::<Vec<_>>();
            let entry = self.entry(
                "handoff.escalated",
                &row.kind,
                &row.subject_digest,
                &row.case_id,
            );
            if self
                .store()
                .escalate_handoff(&row.id, &notices, &entry)
                .await?
            {
                warn!(handoff = %row.id, kind = %row.kind, "hand-off past its deadline escalated");
                escalated += 1;
            }
        }
        if escalated > 0 {
            self.inner.delivering.notify_one();
        }
        Ok(escalated)
    }

    /// Watches deadlines every `interval`.
    pub fn spawn_deadline_watch(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let handoffs = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = handoffs.escalate_overdue().await {
                    warn!(%error, "cannot check hand-off deadlines; trying again");
                }
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// A notice to `party` of a step: ids and states only, no document, no IDNP.
    fn notice(
        &self,
        row: &HandoffRow,
        kind: HandoffKind,
        step: &str,
        party: &str,
        detail: Value,
    ) -> NewDelivery {
        let id = Uuid::now_v7().to_string();
        let mut data = json!({
            "handoffId": row.id,
            "kind": row.kind,
            "from": row.sender,
            "to": row.receiver,
            "caseId": row.case_id,
        });
        if let (Some(data), Value::Object(detail)) = (data.as_object_mut(), detail) {
            data.extend(detail);
        }
        let event = CloudEvent {
            id: id.clone(),
            source: SOURCE.into(),
            event_type: format!("Md.Esocial.Hub.{}.{step}", kind.event_name()),
            partition_key: None,
            time: Some(now_text()),
            data,
            offset: None,
        };
        self.delivery(id, &step.to_lowercase(), party, &row.case_id, &event)
    }

    fn delivery(
        &self,
        id: String,
        purpose: &str,
        party: &str,
        case_id: &str,
        event: &CloudEvent,
    ) -> NewDelivery {
        NewDelivery {
            id,
            purpose: purpose.into(),
            channel: WEBHOOK.into(),
            target: party.into(),
            case_id: case_id.into(),
            priority: "High".into(),
            sealed_payload: self
                .inner
                .exchanger
                .sealer()
                .seal(event.to_value().to_string().as_bytes()),
        }
    }

    fn entry(
        &self,
        kind: &str,
        service: &str,
        subject_digest: &str,
        case_id: &str,
    ) -> AuditEntryRow {
        AuditEntryRow {
            entry_id: Uuid::now_v7().to_string(),
            kind: kind.into(),
            recorded_at: now_text(),
            exchange_id: None,
            client_id: None,
            service: Some(service.into()),
            legal_basis: None,
            reason: None,
            case_id: Some(case_id.into()),
            calling_user_digest: None,
            subject_digest: Some(subject_digest.into()),
            person_id: None,
            outcome: "completed".into(),
            error_code: None,
            fields_released: None,
            request_digest: None,
            response_digest: None,
        }
    }
}

fn now_text() -> String {
    esocial_store::timestamp(time::OffsetDateTime::now_utc())
}

fn millis_text(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map(esocial_store::timestamp)
        .unwrap_or_default()
}

/// What is wrong with a JSON body, naming a field but never repeating a value.
fn json_problem(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let named = ["missing field `", "unknown field `"]
        .into_iter()
        .find_map(|prefix| {
            let rest = text.strip_prefix(prefix)?;
            let (field, _) = rest.split_once('`')?;
            Some(format!("{}`{field}`", &prefix[..prefix.len() - 1]))
        });
    match (error.classify(), named) {
        (_, Some(named)) => format!("has a {named}"),
        (serde_json::error::Category::Data, None) => "has a value of the wrong type".into(),
        _ => "is not valid JSON".into(),
    }
}
