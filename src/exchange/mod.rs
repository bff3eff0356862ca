//! The exchange pipeline. Every exchange, sync or async, a composite's part or an agency's
//! inbound request, goes through the same steps: [`Exchanger::authorise`] (client, service,
//! grant), [`Exchanger::open`] (its row, in progress), the call (`call_registry` for a
//! registry, with the per-registry call slots and circuit breaker, over either transport),
//! the classification of what came back (one [`ExchangeError`] code per outcome), and
//! [`Exchanger::close`] or `close_async` (exactly one terminal state; an answer whose row
//! could not be closed is withheld).

mod asynchronous;
pub mod breaker;
mod error;
mod request;
pub mod workers;

pub use asynchronous::{Accepted, ProcessOutcome, RetryPolicy};
pub use error::{ErrorSummary, ExchangeError, Fault};
pub use request::{ExchangeRequest, Mode, Purpose};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{Instrument, Span, info, warn};
use uuid::Uuid;

use crate::audit::PersonalDataDigester;
use crate::metrics::HubMetrics;
use crate::queue::QueueBackend;
use esocial_catalog::{
    AccessMatrix, Catalog, Composite, ContractPart, Grant, Operation, RegistryFailure, Service,
    released_fields,
};
use esocial_store::{
    Closing, Direction, ExchangeOutcome, MessageIds, NewExchange, SeenMessage, Store,
};
use esocial_wire::crypto::sealing::Sealer;
use esocial_wire::domain::Idno;
use esocial_wire::mconnect::client::{
    AnswerPayload, CallError, Destination, MconnectClient, Outgoing,
};
use esocial_wire::mconnect::envelope::{self, CallContext, Delivery};

/// The canonical answer of a completed exchange (see `schemas/exchange-result.schema.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeResult {
    pub exchange_id: Uuid,
    pub service: String,
    pub status: &'static str,
    /// The registry that answered; absent for composite services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryReceipt>,
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
    operators: Arc<std::collections::BTreeSet<String>>,
    /// Registered callback URLs by client.
    callbacks: Arc<BTreeMap<String, Vec<String>>>,
    store: Store,
    mconnect: MconnectClient,
    digester: PersonalDataDigester,
    metrics: HubMetrics,
    sealer: Sealer,
    queue: QueueBackend,
    /// Per registry, this hub's async workers for it.
    queue_lanes: Arc<BTreeMap<String, QueueLane>>,
    /// Async exchanges of one registry that run at once on this hub.
    queue_concurrency: usize,
    retry: RetryPolicy,
    /// The name this hub holds queue leases under.
    instance: Arc<str>,
    /// A circuit breaker per registry, for sync and async calls alike.
    breakers: Arc<BTreeMap<String, breaker::Breaker>>,
    /// The calls each registry may have in flight, sync and async together.
    call_slots: Arc<BTreeMap<String, Arc<Semaphore>>>,
}

/// Async exchanges of one registry that run at once on a hub unless settings say otherwise.
pub const DEFAULT_QUEUE_CONCURRENCY: usize = 4;

/// This hub's async workers for one registry: the slots its exchanges run in, and what wakes
/// the embedded queue's loop for it.
pub struct QueueLane {
    /// One permit per exchange of the registry running on this hub.
    pub slots: Arc<Semaphore>,
    waker: tokio::sync::Notify,
}

impl QueueLane {
    fn new(slots: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            waker: tokio::sync::Notify::new(),
        }
    }

    /// Tells the embedded queue's loop that the registry has work: it wakes now, or, if it is
    /// busy, finds the wake-up waiting at its next rest, so none is lost between its look at
    /// the queue and its rest.
    pub fn wake(&self) {
        self.waker.notify_one();
    }

    /// Waits for [`QueueLane::wake`].
    pub async fn woken(&self) {
        self.waker.notified().await;
    }
}

/// A caller authorised for a service: step one of every exchange.
pub struct Authorised<'a> {
    /// The caller's organisation, as `CallingEntity`.
    pub entity: Idno,
    pub target: Target<'a>,
    /// What the caller may see of the answer.
    pub grant: Grant,
}

/// What a service id names in the catalog.
pub enum Target<'a> {
    Service(&'a Service),
    Composite(&'a Composite),
}

/// What the registry call produced before it is written to the log.
struct Decoded {
    data: Value,
    message_id: String,
    signer: String,
}

/// What went over the wire, as far as it did: digests of both messages and their ids.
#[derive(Default)]
struct Wire {
    request_digest: Option<String>,
    response_digest: Option<String>,
    message_ids: MessageIds,
    /// The verified answer's message id, for the replay cache: recorded when the exchange
    /// closes, in the same transaction.
    answer: Option<SeenMessage>,
}

impl Wire {
    /// The log outcome of an exchange that ended with `result`.
    fn outcome(&self, result: &Result<ExchangeResult, ExchangeError>) -> ExchangeOutcome {
        match result {
            Ok(released) => self.completed(released),
            Err(error) => self.failed(error.code()),
        }
    }

    /// A completed exchange whose answer, as the client got it, is `released`.
    fn completed(&self, released: &ExchangeResult) -> ExchangeOutcome {
        ExchangeOutcome::Completed {
            request_digest: self.request_digest.clone().unwrap_or_default(),
            response_digest: self.response_digest.clone().unwrap_or_default(),
            message_ids: self.message_ids.clone(),
            fields_released: Some(released_fields(&released.data)),
        }
    }

    fn failed(&self, code: &str) -> ExchangeOutcome {
        ExchangeOutcome::Failed {
            error_code: code.to_string(),
            request_digest: self.request_digest.clone(),
            response_digest: self.response_digest.clone(),
            message_ids: self.message_ids.clone(),
        }
    }
}

pub(crate) fn now_text(moment: OffsetDateTime) -> String {
    moment
        .format(&Rfc3339)
        .expect("UTC timestamps always format as RFC 3339")
}

impl Exchanger {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: Arc<Catalog>,
        access: AccessMatrix,
        clients: BTreeMap<String, Idno>,
        store: Store,
        mconnect: MconnectClient,
        digester: PersonalDataDigester,
        metrics: HubMetrics,
        sealer: Sealer,
        queue: QueueBackend,
        retry: RetryPolicy,
    ) -> Self {
        let call_slots = catalog
            .registries()
            .map(|r| (r.name.clone(), Arc::new(Semaphore::new(r.max_in_flight))))
            .collect();
        Self {
            catalog,
            access: Arc::new(access),
            clients: Arc::new(clients),
            operators: Arc::default(),
            callbacks: Arc::default(),
            store,
            mconnect,
            digester,
            metrics,
            sealer,
            queue,
            queue_lanes: Arc::default(),
            queue_concurrency: 0,
            retry,
            instance: Arc::from("hub"),
            breakers: Arc::default(),
            call_slots: Arc::new(call_slots),
        }
        .with_breaker_policy(breaker::BreakerPolicy::default())
        .with_queue_concurrency(DEFAULT_QUEUE_CONCURRENCY)
    }

    /// At most `per_registry` async exchanges of each registry at once on this hub (also the
    /// RabbitMQ prefetch).
    pub fn with_queue_concurrency(mut self, per_registry: usize) -> Self {
        self.queue_concurrency = per_registry;
        self.queue_lanes = Arc::new(
            self.catalog
                .registries()
                .map(|r| (r.name.clone(), QueueLane::new(per_registry)))
                .collect(),
        );
        self
    }

    /// One breaker per registry of the catalog, opening as `policy` says.
    pub fn with_breaker_policy(mut self, policy: breaker::BreakerPolicy) -> Self {
        self.breakers = Arc::new(
            self.catalog
                .registries()
                .map(|r| (r.name.clone(), breaker::Breaker::new(policy)))
                .collect(),
        );
        self
    }

    /// Waits, at most the registry's timeout, for one of the calls it may have in flight.
    async fn call_slot(
        &self,
        registry: &esocial_catalog::Registry,
    ) -> Result<Option<OwnedSemaphorePermit>, ExchangeError> {
        let Some(slots) = self.call_slots.get(&registry.name) else {
            return Ok(None);
        };
        match tokio::time::timeout(registry.timeout, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_closed)) => Err(ExchangeError::Internal),
            Err(_elapsed) => {
                warn!(registry = %registry.name, "every call slot of the registry stayed busy");
                Err(ExchangeError::Overloaded)
            }
        }
    }

    /// The circuit breaker of `registry`.
    pub fn breaker(&self, registry: &str) -> Option<&breaker::Breaker> {
        self.breakers.get(registry)
    }

    /// The name this hub holds queue leases under.
    pub fn with_instance(mut self, instance: &str) -> Self {
        self.instance = Arc::from(instance);
        self
    }

    /// Clients allowed to list and replay dead letters.
    pub fn with_operators(mut self, operators: impl IntoIterator<Item = String>) -> Self {
        self.operators = Arc::new(operators.into_iter().collect());
        self
    }

    /// The callback URLs each client may name.
    pub fn with_callbacks(mut self, callbacks: BTreeMap<String, Vec<String>>) -> Self {
        self.callbacks = Arc::new(callbacks);
        self
    }

    pub fn is_operator(&self, client: &str) -> bool {
        self.operators.contains(client)
    }

    pub fn queue(&self) -> &QueueBackend {
        &self.queue
    }

    /// This hub's async workers for `registry` (`None` for a registry the catalog does not
    /// have).
    pub fn queue_lane(&self, registry: &str) -> Option<&QueueLane> {
        self.queue_lanes.get(registry)
    }

    /// Async exchanges of one registry that run at once on this hub.
    pub fn queue_concurrency(&self) -> usize {
        self.queue_concurrency
    }

    pub fn metrics(&self) -> &HubMetrics {
        &self.metrics
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn access(&self) -> &AccessMatrix {
        &self.access
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `registry` answered its last call within `window` (`None`: not called), and
    /// whether its circuit is open.
    pub fn registry_answered_lately(
        &self,
        registry: &str,
        window: std::time::Duration,
    ) -> Option<bool> {
        let breaker = self.breaker(registry)?;
        if breaker.is_open() {
            return Some(false);
        }
        breaker.answered_lately(window)
    }

    /// Every keyed digest a personal identifier may have in the exchange log and the audit log
    /// (under the current key and the ones it replaced).
    pub fn digests(&self, identifier: &str) -> Vec<String> {
        self.digester.digests(identifier)
    }

    /// Checks that `client` is registered; returns its organisation IDNO.
    pub fn authenticate(&self, client: &str) -> Result<&Idno, ExchangeError> {
        self.clients
            .get(client)
            .ok_or_else(|| ExchangeError::UnknownClient(client.to_string()))
    }

    /// Step one of every exchange: the client is registered, the service is in the catalog and
    /// the access matrix grants it to the client (deny by default).
    pub fn authorise(&self, client: &str, service: &str) -> Result<Authorised<'_>, ExchangeError> {
        let entity = self.authenticate(client)?.clone();
        let target = match (
            self.catalog.service(service),
            self.catalog.composite(service),
        ) {
            (Some(service), _) => Target::Service(service),
            (None, Some(composite)) => Target::Composite(composite),
            (None, None) => return Err(ExchangeError::UnknownService(service.to_string())),
        };
        let Some(grant) = self.access.grant(client, service).cloned() else {
            warn!("access denied by the access matrix");
            return Err(ExchangeError::AccessDenied {
                client: client.to_string(),
                service: service.to_string(),
            });
        };
        Ok(Authorised {
            entity,
            target,
            grant,
        })
    }

    /// [`Self::authorise`] for a client's request; a refusal is audited (kind
    /// `exchange.refused`, with the purpose stated and the subject's digest), and stays a
    /// refusal even if its entry cannot be written.
    pub async fn authorise_request(
        &self,
        client: &str,
        request: &ExchangeRequest,
    ) -> Result<Authorised<'_>, ExchangeError> {
        let refusal = match self.authorise(client, &request.service) {
            Ok(authorised) => return Ok(authorised),
            Err(refusal) => refusal,
        };
        let entry = esocial_store::AuditEntryRow {
            entry_id: Uuid::now_v7().to_string(),
            kind: "exchange.refused".into(),
            recorded_at: esocial_store::timestamp(OffsetDateTime::now_utc()),
            exchange_id: None,
            client_id: Some(client.to_string()),
            service: Some(request.service.clone()),
            legal_basis: Some(request.purpose.legal_basis.clone()),
            reason: Some(request.purpose.reason.clone()),
            case_id: request.purpose.case_id.clone(),
            calling_user_digest: Some(self.digester.digest(request.calling_user.expose())),
            subject_digest: Some(self.digester.digest(request.subject.expose())),
            person_id: None,
            outcome: "refused".into(),
            error_code: Some(refusal.code().to_string()),
            fields_released: None,
            request_digest: None,
            response_digest: None,
        };
        if let Err(error) = self.store.record_audit_entry(&entry).await {
            warn!(%error, "cannot audit a refused exchange; it is refused all the same");
        }
        Err(refusal)
    }

    /// The row of a new exchange, received now: who asks, for what and why, with the calling
    /// user and the subject as keyed digests, and sealed for MLog alone.
    pub fn new_row(
        &self,
        direction: Direction,
        client: &str,
        service: &str,
        purpose: &Purpose,
        calling_user: &str,
        subject: &str,
    ) -> NewExchange {
        NewExchange {
            // Time-ordered (UUIDv7): new rows land at the end of the id index instead of on a
            // random page of it, one page write fewer per exchange in a large log.
            id: Uuid::now_v7(),
            direction,
            parent_id: None,
            client_id: client.to_string(),
            service: service.to_string(),
            legal_basis: purpose.legal_basis.clone(),
            reason: purpose.reason.clone(),
            case_id: purpose.case_id.clone(),
            calling_user_digest: self.digester.digest(calling_user),
            subject_digest: self.digester.digest(subject),
            sealed_identifiers: Some(
                self.sealer.seal(
                    json!({"user": calling_user, "subject": subject})
                        .to_string()
                        .as_bytes(),
                ),
            ),
            received_at: OffsetDateTime::now_utc(),
        }
    }

    /// Step two: the exchange's row, in progress. An exchange that cannot be recorded is not
    /// performed.
    pub async fn open(&self, row: &NewExchange) -> Result<(), ExchangeError> {
        self.store.begin_exchange(row).await.map_err(|error| {
            warn!(%error, "cannot record the exchange; refusing it");
            ExchangeError::StoreUnavailable
        })
    }

    /// The last step: the row gets its one terminal state, and the registry's `answer` its
    /// place in the replay cache. `Err` when this call did not close it as `outcome` says
    /// (the answer was a replay, and the row is closed as failed for it; it was closed
    /// elsewhere; or the store failed): the answer must then be withheld, since the log would
    /// not show it.
    pub async fn close(
        &self,
        exchange_id: Uuid,
        outcome: &ExchangeOutcome,
        answer: Option<&SeenMessage>,
        completed_at: OffsetDateTime,
    ) -> Result<(), ExchangeError> {
        match self
            .store
            .finish_exchange(exchange_id, outcome, answer, completed_at)
            .await
        {
            Ok(Closing::Closed) => Ok(()),
            Ok(Closing::Replayed) => {
                warn!(%exchange_id, "registry answer replayed: its message id was seen before");
                let replayed = ExchangeError::RegistryReplayedAnswer;
                let failed = outcome.as_failed(replayed.code());
                Box::pin(self.close(exchange_id, &failed, None, completed_at)).await?;
                Err(replayed)
            }
            Ok(Closing::AlreadyClosed) => {
                // Closed elsewhere (a restart failed it as interrupted): what the log says
                // stands, and no answer goes out that the log does not show.
                warn!(%exchange_id, "the exchange record was already closed; withholding the answer");
                Err(ExchangeError::Internal)
            }
            Err(error) => {
                warn!(%error, %exchange_id, "cannot close the exchange record; withholding the answer");
                Err(ExchangeError::StoreUnavailable)
            }
        }
    }

    /// Runs one synchronous exchange (a registry service or a composite) for a client.
    #[tracing::instrument(skip_all, fields(exchange_id, service = %request.service, client = %client))]
    pub async fn run(
        &self,
        client: &str,
        request: ExchangeRequest,
    ) -> Result<ExchangeResult, ExchangeFailure> {
        let authorised = self.authorise_request(client, &request).await?;
        match authorised.target {
            Target::Composite(composite) => self.run_composite(client, composite, request).await,
            Target::Service(service) => {
                self.run_service(
                    client,
                    &authorised.entity,
                    service,
                    &authorised.grant,
                    &request,
                    None,
                )
                .await
            }
        }
    }

    fn observe(&self, service: &str, outcome: &str, started: Instant) {
        self.metrics
            .exchanges
            .with_label_values(&[service, outcome])
            .inc();
        self.metrics
            .exchange_seconds
            .with_label_values(&[service])
            .observe(started.elapsed().as_secs_f64());
    }

    pub(crate) fn digester(&self) -> &PersonalDataDigester {
        &self.digester
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// One registry service: record, call, decode, filter by the grant, close the record.
    pub(crate) async fn run_service(
        &self,
        client: &str,
        entity: &Idno,
        service: &Service,
        grant: &Grant,
        request: &ExchangeRequest,
        parent: Option<Uuid>,
    ) -> Result<ExchangeResult, ExchangeFailure> {
        let started = Instant::now();
        let row = NewExchange {
            parent_id: parent,
            ..self.new_row(
                Direction::Outbound,
                client,
                &service.id,
                &request.purpose,
                request.calling_user.expose(),
                request.subject.expose(),
            )
        };
        let exchange_id = row.id;
        if parent.is_none() {
            Span::current().record("exchange_id", tracing::field::display(exchange_id));
        }
        self.open(&row).await?;
        info!(%exchange_id, service = %service.id, "exchange accepted");

        let delivery = Delivery {
            exchange_id: exchange_id.to_string(),
            attempt: 1,
        };
        let (outcome, wire) = self.call_registry(service, entity, request, delivery).await;
        let completed_at = OffsetDateTime::now_utc();
        // What the client gets, built before the row closes, so that the log names the
        // fields released.
        let outcome = outcome.map(|decoded| {
            registry_result(
                exchange_id,
                service,
                grant,
                decoded,
                now_text(row.received_at),
                completed_at,
            )
        });
        let closed = self
            .close(
                exchange_id,
                &wire.outcome(&outcome),
                wire.answer.as_ref(),
                completed_at,
            )
            .await;
        // An answer goes out only if the log closed with it.
        let outcome = closed.and(outcome);
        let outcome_label = outcome.as_ref().map_or_else(|e| e.code(), |_| "ok");
        self.observe(&service.id, outcome_label, started);
        match outcome {
            Ok(result) => {
                info!(%exchange_id, elapsed_ms = started.elapsed().as_millis() as u64, "exchange completed");
                Ok(result)
            }
            Err(error) => {
                warn!(%exchange_id, code = error.code(), %error, "exchange failed");
                Err(ExchangeFailure {
                    exchange_id: Some(exchange_id),
                    error,
                })
            }
        }
    }

    /// A composite: every part in parallel, each authorised, recorded and closed as its own
    /// exchange, the whole bounded by the composite's deadline.
    async fn run_composite(
        &self,
        client: &str,
        composite: &Composite,
        request: ExchangeRequest,
    ) -> Result<ExchangeResult, ExchangeFailure> {
        let started = Instant::now();
        let row = self.new_row(
            Direction::Outbound,
            client,
            &composite.id,
            &request.purpose,
            request.calling_user.expose(),
            request.subject.expose(),
        );
        let exchange_id = row.id;
        Span::current().record("exchange_id", tracing::field::display(exchange_id));
        self.open(&row).await?;
        let deadline = tokio::time::Instant::now() + composite.deadline;
        let mut running = Vec::new();
        for part in &composite.services {
            let exchanger = self.clone();
            let (client, part_id, request) = (client.to_string(), part.clone(), request.clone());
            // Spawned, so a part still running at the deadline finishes and closes its own
            // record in the background.
            let handle = tokio::spawn(
                async move {
                    let authorised = exchanger.authorise(&client, &part_id)?;
                    let Target::Service(service) = authorised.target else {
                        return Err(ExchangeError::UnknownService(part_id).into());
                    };
                    exchanger
                        .run_service(
                            &client,
                            &authorised.entity,
                            service,
                            &authorised.grant,
                            &request,
                            Some(exchange_id),
                        )
                        .await
                }
                .instrument(Span::current()),
            );
            running.push((part.clone(), handle));
        }
        let mut parts = Vec::new();
        for (part, handle) in running {
            let value = match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok(Ok(result))) => json!({
                    "service": part, "status": "completed",
                    "exchangeId": result.exchange_id, "data": result.data,
                }),
                Ok(Ok(Err(ExchangeFailure {
                    error: ExchangeError::AccessDenied { .. },
                    ..
                }))) => json!({"service": part, "status": "forbidden"}),
                Ok(Ok(Err(failure))) => {
                    let mut value = json!({
                        "service": part, "status": "failed", "error": failure.error.summary(),
                    });
                    if let Some(id) = failure.exchange_id {
                        value["exchangeId"] = json!(id);
                    }
                    value
                }
                Ok(Err(_)) => json!({
                    "service": part, "status": "failed",
                    "error": ExchangeError::Internal.summary(),
                }),
                Err(_) => json!({
                    "service": part, "status": "timeout",
                    "error": ExchangeError::RegistryTimeout(composite.deadline.as_millis()).summary(),
                }),
            };
            parts.push((part, value));
        }
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        let data = json!({"parts": parts.into_iter().map(|(_, v)| v).collect::<Vec<_>>()});
        let completed_at = OffsetDateTime::now_utc();
        let outcome = match composite.contract.validate(ContractPart::Response, &data) {
            Ok(()) => Ok(()),
            Err(violations) => {
                warn!(?violations, "composite answer breaks its own contract");
                Err(ExchangeError::Internal)
            }
        };
        let log = match &outcome {
            Ok(()) => ExchangeOutcome::Completed {
                request_digest: self.digester.digest(request.subject.expose()),
                response_digest: esocial_wire::mconnect::message_digest(
                    data.to_string().as_bytes(),
                ),
                message_ids: MessageIds::default(),
                fields_released: None,
            },
            Err(error) => Wire::default().failed(error.code()),
        };
        let label = outcome.as_ref().map_or_else(|e| e.code(), |_| "ok");
        self.observe(&composite.id, label, started);
        let failure = |error| ExchangeFailure {
            exchange_id: Some(exchange_id),
            error,
        };
        self.close(exchange_id, &log, None, completed_at)
            .await
            .map_err(failure)?;
        outcome.map_err(failure)?;
        Ok(ExchangeResult {
            exchange_id,
            service: composite.id.clone(),
            status: "completed",
            registry: None,
            received_at: now_text(row.received_at),
            completed_at: now_text(completed_at),
            data,
        })
    }

    /// Encodes, sends, verifies and decodes; an answer whose message id was seen before from
    /// the same signer is refused as a replay. Returns what went over the wire.
    async fn call_registry(
        &self,
        service: &Service,
        entity: &Idno,
        request: &ExchangeRequest,
        delivery: Delivery,
    ) -> (Result<Decoded, ExchangeError>, Wire) {
        let Some(registry) = self.catalog.registry(&service.registry) else {
            return (Err(ExchangeError::Internal), Wire::default());
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
                let violation = esocial_catalog::json_schema::Violation {
                    pointer: "/params".into(),
                    message: error.to_string(),
                };
                return (
                    Err(ExchangeError::InvalidRequest(vec![violation])),
                    Wire::default(),
                );
            }
        };
        let context = CallContext {
            calling_user: request.calling_user.expose().to_string(),
            calling_entity: entity.as_str().to_string(),
            call_basis: request.purpose.legal_basis.clone(),
            call_reason: request.purpose.reason.clone(),
            message_id: Uuid::new_v4().to_string(),
            delivery: Some(delivery),
        };
        let mut wire = Wire {
            message_ids: MessageIds {
                request: Some(context.message_id.clone()),
                response: None,
            },
            ..Wire::default()
        };
        // A slot first, so that a half-open breaker's probe is never left waiting for one.
        let _slot = match self.call_slot(registry).await {
            Ok(slot) => slot,
            Err(error) => return (Err(error), wire),
        };
        let breaker = self.breaker(&registry.name);
        if let Some(breaker::Admission::Refused(wait)) = breaker.map(breaker::Breaker::admit) {
            return (
                Err(ExchangeError::RegistryUnavailable(format!(
                    "circuit open after repeated failures; next try in {} ms",
                    wait.as_millis()
                ))),
                wire,
            );
        }
        let call_started = Instant::now();
        let (endpoint, message) = match &service.operation {
            Operation::Soap { soap_action } => (
                registry.endpoint.clone(),
                Outgoing::Soap {
                    envelope: envelope::request(&context, &body),
                    soap_action: soap_action.clone(),
                },
            ),
            Operation::Rest { path } => {
                let Ok(rendered) = serde_json::from_str::<Value>(&body) else {
                    return (Err(ExchangeError::Internal), wire);
                };
                (
                    format!("{}{path}", registry.endpoint),
                    Outgoing::Rest {
                        payload: context.rest_payload(rendered),
                    },
                )
            }
        };
        let destination = Destination {
            endpoint: &endpoint,
            timeout: registry.timeout,
            expected_signer: registry.signer.as_deref(),
            max_answer_bytes: registry.max_answer_bytes,
        };
        let answer = self
            .mconnect
            .call(&destination, message, &context.message_id, |payload| {
                decode_answer(service, payload)
            })
            .await;
        let outcome = match answer {
            Ok(answer) => {
                wire.request_digest = Some(answer.request_digest.clone());
                wire.response_digest = Some(answer.response_digest.clone());
                wire.message_ids.response = Some(answer.message_id.clone());
                wire.answer = Some(seen_answer(
                    &answer.signer,
                    &answer.message_id,
                    answer.expires,
                ));
                answer
                    .decoded
                    .map(|data| Decoded {
                        data,
                        message_id: answer.message_id,
                        signer: answer.signer,
                    })
                    .and_then(|decoded| about_the_subject(decoded, request))
            }
            Err(error) => {
                warn!(registry = %registry.name, %error, "registry call failed");
                Err(map_call_error(&error, registry.timeout))
            }
        };
        let label = outcome.as_ref().map_or_else(|e| e.code(), |_| "ok");
        let answered = !matches!(
            outcome,
            Err(ExchangeError::RegistryTimeout(_) | ExchangeError::RegistryUnavailable(_))
        );
        if let Some(breaker) = breaker {
            breaker.record(answered, &registry.name);
        }
        self.metrics
            .registry_call_seconds
            .with_label_values(&[registry.name.as_str(), label])
            .observe(call_started.elapsed().as_secs_f64());
        (outcome, wire)
    }
}

/// An answer's message id as the replay cache keeps it: until its signature expires, with the
/// clock skew allowed on top.
fn seen_answer(signer: &str, message_id: &str, expires: std::time::SystemTime) -> SeenMessage {
    let expires_at_ms = expires
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
        + esocial_wire::crypto::wssec::CLOCK_SKEW.as_millis() as i64;
    SeenMessage {
        sender: signer.to_string(),
        message_id: message_id.to_string(),
        expires_at_ms,
    }
}

/// The canonical result of a registry service's completed exchange: what the registry
/// answered, less what the caller's grant does not cover.
fn registry_result(
    exchange_id: Uuid,
    service: &Service,
    grant: &Grant,
    decoded: Decoded,
    received_at: String,
    completed_at: OffsetDateTime,
) -> ExchangeResult {
    ExchangeResult {
        exchange_id,
        service: service.id.clone(),
        status: "completed",
        registry: Some(RegistryReceipt {
            name: service.registry.clone(),
            message_id: decoded.message_id,
            signed_by: decoded.signer,
        }),
        received_at,
        completed_at: now_text(completed_at),
        data: grant.filter(decoded.data),
    }
}

/// An answer that names a person must name the one asked about: a registry's mix-up must not
/// put one person's data in another's file.
fn about_the_subject(
    decoded: Decoded,
    request: &ExchangeRequest,
) -> Result<Decoded, ExchangeError> {
    match decoded.data.get("idnp").and_then(Value::as_str) {
        Some(idnp) if idnp != request.subject.expose() => {
            warn!("registry answer is about another person than asked; refusing it");
            Err(ExchangeError::RegistryUnboundAnswer(
                "the answer is about another person than the one asked about",
            ))
        }
        _ => Ok(decoded),
    }
}

fn map_call_error(error: &CallError, timeout: std::time::Duration) -> ExchangeError {
    match error {
        CallError::Timeout(_) => ExchangeError::RegistryTimeout(timeout.as_millis()),
        CallError::Connect(detail) => ExchangeError::RegistryUnavailable(detail.clone()),
        // 5xx, and 429 (too many requests): the registry may answer later.
        CallError::HttpStatus(status) if *status >= 500 || *status == 429 => {
            ExchangeError::RegistryUnavailable(format!("HTTP {status}"))
        }
        CallError::HttpStatus(status) => {
            ExchangeError::RegistryInvalidResponse(format!("HTTP {status}"))
        }
        CallError::TooLarge(_) | CallError::NotText | CallError::NotJson(_) => {
            ExchangeError::RegistryInvalidResponse(error.to_string())
        }
        CallError::Signature(_)
        | CallError::Jws(_)
        | CallError::WrongSigner { .. }
        | CallError::PeerCertificate(_) => ExchangeError::RegistrySignature(error.to_string()),
        CallError::Unbound(detail) => ExchangeError::RegistryUnboundAnswer(detail),
        CallError::Sign(_) | CallError::SignJws(_) => ExchangeError::Internal,
        CallError::Overloaded(_) => ExchangeError::Overloaded,
    }
}

fn from_failure(failure: RegistryFailure) -> ExchangeError {
    match failure {
        RegistryFailure::SubjectNotFound => ExchangeError::SubjectNotFound,
        RegistryFailure::Rejected(code) => ExchangeError::RejectedByRegistry(code),
        RegistryFailure::Unavailable(code) => ExchangeError::RegistryUnavailable(code),
        RegistryFailure::Fault(code) => ExchangeError::RegistryFault(code),
        RegistryFailure::Invalid(detail) => ExchangeError::RegistryInvalidResponse(detail),
        RegistryFailure::ContractViolation(v) => ExchangeError::RegistryResultInvalid(v),
    }
}

/// Reads a verified answer's payload: a mapped fault, or the data mapped and contract-checked.
fn decode_answer(
    service: &Service,
    payload: AnswerPayload<'_, '_>,
) -> Result<Value, ExchangeError> {
    match payload {
        AnswerPayload::Soap(Some(payload)) => service.decode_soap(payload).map_err(from_failure),
        AnswerPayload::Soap(None) => Err(ExchangeError::RegistryInvalidResponse(
            "empty soap:Body".into(),
        )),
        AnswerPayload::Rest(payload) => service.decode_rest(payload).map_err(from_failure),
    }
}
