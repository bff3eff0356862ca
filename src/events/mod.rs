//! The events flow: what a registry learns reaches the right case manager. Events come from
//! MConnect Events (the consumer stream) or are pushed by registries (`/ce/produce/*`); each is
//! checked against its contract and bound to its subject, stored once (`source` + `id`) and
//! sealed; then handled in order within its partition: the subject resolved through the
//! master index (an unknown subject opens a review item), the open cases of the persons each
//! matching subscription names asked of the case-management module, and one delivery written
//! for each alert (MNotify to the case manager, a signed webhook to each module), with the
//! event's end and its audit entry in one transaction. `outbox` sends them.

pub mod subscriptions;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::SettingsError;
use crate::exchange::{ExchangeFailure, ExchangeRequest, Exchanger, Mode, Purpose};
use esocial_catalog::events::{EventContracts, EventDataError};
use esocial_catalog::json_schema::Violation;
use esocial_mpi::MasterIndex;
use esocial_store::{AuditEntryRow, ClaimedEvent, Intake, NewDelivery, NewEvent, Parked};
use esocial_wire::domain::Idnp;
use esocial_wire::mconnect::cloudevent::CloudEvent;
use subscriptions::{Subscription, Subscriptions, Whose};

/// `[events]`: the events flow. Without it the hub takes no events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSettings {
    /// Folder of subscriptions.
    #[serde(default = "default_subscriptions")]
    pub subscriptions: PathBuf,
    /// The `[[clients]]` id whose grants the exchanges that ask for cases use.
    pub client: String,
    /// IDNP of the official on whose behalf those exchanges ask (`CallingUser`).
    pub calling_user: String,
    /// Address of a case in eSocial; `{caseId}` is replaced.
    pub case_link: String,
    /// Registries that may push events, and the types each may push.
    #[serde(default)]
    pub producers: Vec<ProducerSettings>,
    /// MConnect Events' consumer stream (`wss://…/ce/consume/ws`); none, no stream is read.
    pub consumer_url: Option<String>,
    /// MNotify's base URL (notifications go to `{url}/api/Notification`).
    pub mnotify_url: Option<String>,
    /// eSocial modules that receive a signed webhook for each alert.
    #[serde(default)]
    pub modules: Vec<ModuleSettings>,
    /// Attempts at an event or a delivery before it ends dead.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How long a worker holds an event or a delivery before another may take it.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Longest wait for MNotify's or a module's answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerSettings {
    /// Common name of the producer's TLS certificate.
    pub client: String,
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSettings {
    pub name: String,
    /// HTTPS address that takes the webhooks.
    pub url: String,
}

fn default_subscriptions() -> PathBuf {
    PathBuf::from("subscriptions")
}

fn default_max_attempts() -> u32 {
    8
}

fn default_lease_ms() -> u64 {
    30_000
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl EventsSettings {
    /// Checks the section against the rest of the settings; errors name the key.
    pub fn validate(&self, clients: &BTreeSet<&str>) -> Result<(), SettingsError> {
        if !clients.contains(self.client.as_str()) {
            return Err(SettingsError::invalid(
                "events.client",
                "must be the id of a [[clients]] entry",
            ));
        }
        Idnp::parse(&self.calling_user)
            .map_err(|error| SettingsError::invalid("events.calling_user", error.to_string()))?;
        if !self.case_link.starts_with("https://") || !self.case_link.contains("{caseId}") {
            return Err(SettingsError::invalid(
                "events.case_link",
                "must be an https:// address holding {caseId}",
            ));
        }
        if let Some(url) = &self.consumer_url
            && !url.starts_with("wss://")
        {
            return Err(SettingsError::invalid(
                "events.consumer_url",
                "must be a wss:// address",
            ));
        }
        if let Some(url) = &self.mnotify_url
            && !url.starts_with("https://")
        {
            return Err(SettingsError::invalid(
                "events.mnotify_url",
                "must be an https:// address",
            ));
        }
        let mut names = BTreeSet::new();
        for (index, module) in self.modules.iter().enumerate() {
            if !names.insert(module.name.as_str()) {
                return Err(SettingsError::invalid(
                    format!("events.modules[{index}].name"),
                    "is given twice",
                ));
            }
            if !module.url.starts_with("https://") {
                return Err(SettingsError::invalid(
                    format!("events.modules[{index}].url"),
                    "must be an https:// address",
                ));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(SettingsError::invalid(
                "events.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if !(1_000..=3_600_000).contains(&self.lease_ms) {
            return Err(SettingsError::invalid(
                "events.lease_ms",
                "must be between 1000 and 3600000",
            ));
        }
        if !(100..=300_000).contains(&self.timeout_ms) {
            return Err(SettingsError::invalid(
                "events.timeout_ms",
                "must be between 100 and 300000",
            ));
        }
        Ok(())
    }
}

/// Why events were not taken. Messages name the attribute or the place, never a value.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{problem}")]
    Invalid {
        problem: String,
        violations: Vec<Violation>,
    },
    #[error("this producer may not publish events of type `{0}`")]
    NotAllowed(String),
    #[error("the store is unavailable; nothing was taken, send the events again")]
    StoreUnavailable,
}

impl Refusal {
    fn invalid(problem: impl Into<String>) -> Self {
        Self::Invalid {
            problem: problem.into(),
            violations: Vec::new(),
        }
    }
}

/// Where events come from.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    /// MConnect Events' consumer stream.
    Stream,
    /// A registry pushing to `/ce/produce/*`, by its certificate's common name.
    Producer(&'a str),
    /// An agency's NotifyCaseRelevantEvent, by the agency's name.
    Agency(&'a str),
}

impl std::fmt::Display for Channel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stream => write!(f, "consumer"),
            Self::Producer(producer) => write!(f, "producer:{producer}"),
            Self::Agency(agency) => write!(f, "agency:{agency}"),
        }
    }
}

/// The events flow, shared by the intake endpoints, the consumer and the workers.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    exchanger: Exchanger,
    mpi: Arc<MasterIndex>,
    contracts: EventContracts,
    subscriptions: Subscriptions,
    /// Producer → the event types it may push.
    producers: HashMap<String, BTreeSet<String>>,
    client: String,
    calling_user: Idnp,
    case_link: String,
    notifies: bool,
    max_attempts: i64,
    lease_ms: i64,
    /// Woken when events are taken, so that they are handled without waiting for the poll.
    taken: tokio::sync::Notify,
    /// Woken when deliveries are written.
    delivering: Arc<tokio::sync::Notify>,
}

/// What handling one event came to.
enum Outcome {
    Handled {
        person: String,
        deliveries: Vec<NewDelivery>,
    },
    Later(String),
    Parked(Parked, String),
}

impl Events {
    pub fn new(
        settings: &EventsSettings,
        contracts: EventContracts,
        subscriptions: Subscriptions,
        exchanger: Exchanger,
        mpi: Arc<MasterIndex>,
        delivering: Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<Self> {
        let modules: Vec<String> = settings.modules.iter().map(|m| m.name.clone()).collect();
        for subscription in subscriptions.all() {
            if let Some(unknown) = subscription.modules.iter().find(|m| !modules.contains(m)) {
                anyhow::bail!(
                    "subscription `{}` sends webhooks to module `{unknown}`, which \
                     `[[events.modules]]` does not name",
                    subscription.id
                );
            }
        }
        let case_types: Vec<&str> = exchanger
            .catalog()
            .contract(CASES_SERVICE)
            .and_then(|contract| {
                contract
                    .response_schema
                    .pointer("/properties/cases/items/properties/type/enum")
            })
            .and_then(Value::as_array)
            .map(|types| types.iter().filter_map(Value::as_str).collect())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the events flow asks `{CASES_SERVICE}` for open cases, and the catalog \
                     has no such service with an enumeration of case types"
                )
            })?;
        for subscription in subscriptions.all() {
            if let Some(unknown) = subscription
                .case_types
                .iter()
                .find(|case_type| !case_types.contains(&case_type.as_str()))
            {
                anyhow::bail!(
                    "subscription `{}`: case type `{unknown}` is not one of {}",
                    subscription.id,
                    case_types.join(", ")
                );
            }
        }
        let producers = settings
            .producers
            .iter()
            .map(|producer| {
                (
                    producer.client.clone(),
                    producer.event_types.iter().cloned().collect(),
                )
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                exchanger,
                mpi,
                contracts,
                subscriptions,
                producers,
                client: settings.client.clone(),
                calling_user: Idnp::parse(&settings.calling_user)?,
                case_link: settings.case_link.clone(),
                notifies: settings.mnotify_url.is_some(),
                max_attempts: i64::from(settings.max_attempts),
                lease_ms: settings.lease_ms as i64,
                taken: tokio::sync::Notify::new(),
                delivering,
            }),
        })
    }

    pub fn store(&self) -> &esocial_store::Store {
        self.inner.exchanger.store()
    }

    /// Whether `producer` may push events at all.
    pub fn is_producer(&self, producer: &str) -> bool {
        self.inner.producers.contains_key(producer)
    }

    /// Checks and stores events that came over `channel`, all or none. A producer may push
    /// only the types it is allowed; the consumer stream and agencies' reports any type with a
    /// contract.
    pub async fn take(
        &self,
        events: &[CloudEvent],
        channel: Channel<'_>,
    ) -> Result<Vec<Intake>, Refusal> {
        let mut rows = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let row = self
                .prepare(event, channel)
                .map_err(|refusal| match refusal {
                    Refusal::Invalid {
                        problem,
                        violations,
                    } if events.len() > 1 => Refusal::Invalid {
                        problem: format!("event {index} of the batch: {problem}"),
                        violations,
                    },
                    other => other,
                })?;
            rows.push(row);
        }
        self.store_taken(&rows, events).await
    }

    /// An event checked and sealed, ready to be stored.
    fn prepare(&self, event: &CloudEvent, channel: Channel<'_>) -> Result<NewEvent, Refusal> {
        if let Channel::Producer(producer) = channel {
            let allowed = self.inner.producers.get(producer);
            if !allowed.is_some_and(|types| types.contains(&event.event_type)) {
                return Err(Refusal::NotAllowed(event.event_type.clone()));
            }
        }
        self.check(event)?;
        let partition_key = event.partition_key.as_deref().unwrap_or_default();
        Ok(NewEvent {
            id: Uuid::now_v7().to_string(),
            source: event.source.clone(),
            cloudevent_id: event.id.clone(),
            event_type: event.event_type.clone(),
            partition_digest: self.inner.exchanger.digests(partition_key).remove(0),
            channel: channel.to_string(),
            sealed_event: self
                .inner
                .exchanger
                .sealer()
                .seal(event.to_value().to_string().as_bytes()),
        })
    }

    /// Stores prepared events in one transaction and wakes the handler.
    async fn store_taken(
        &self,
        rows: &[NewEvent],
        events: &[CloudEvent],
    ) -> Result<Vec<Intake>, Refusal> {
        let intakes = self
            .store()
            .take_events(rows)
            .await
            .map_err(|_| Refusal::StoreUnavailable)?;
        let metrics = &self.inner.exchanger.metrics().events;
        for (intake, event) in intakes.iter().zip(events) {
            let outcome = match intake {
                Intake::Taken => "taken",
                Intake::Seen => "seen",
            };
            metrics
                .with_label_values(&[&event.event_type, outcome])
                .inc();
        }
        if intakes.contains(&Intake::Taken) {
            self.inner.taken.notify_one();
        }
        Ok(intakes)
    }

    /// Takes events from MConnect Events' stream, each on its own: one that can never be
    /// taken is refused (to the stream's dead list), the others are stored in one transaction
    /// and confirmed; when the store is away none is, and the stream sends them again.
    pub async fn take_from_stream(
        &self,
        events: Vec<CloudEvent>,
    ) -> anyhow::Result<Vec<esocial_wire::mconnect::events::Taken>> {
        use esocial_wire::mconnect::events::Taken;
        let mut takens = Vec::with_capacity(events.len());
        let mut rows = Vec::new();
        let mut kept = Vec::new();
        for event in events {
            match self.prepare(&event, Channel::Stream) {
                Ok(row) => {
                    rows.push(row);
                    kept.push(event);
                    takens.push(Taken::Durably);
                }
                Err(refusal) => takens.push(Taken::Refused(refusal.to_string())),
            }
        }
        if !rows.is_empty() {
            self.store_taken(&rows, &kept)
                .await
                .map_err(|_| anyhow::anyhow!("the store is unavailable"))?;
        }
        Ok(takens)
    }

    /// Reads MConnect Events' stream at `url` for as long as the hub runs.
    pub fn spawn_consumer(
        &self,
        consumer: esocial_wire::mconnect::events::EventsConsumer,
    ) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        tokio::spawn(async move {
            // The hub stops its workers by aborting them; the stream never asks to stop.
            let (_keep, stop) = tokio::sync::watch::channel(false);
            consumer
                .run(
                    move |batch| {
                        let events = events.clone();
                        async move { events.take_from_stream(batch).await }
                    },
                    stop,
                )
                .await;
        })
    }

    /// An event's type has a contract, its data passes it, its `partitionkey` names a valid
    /// IDNP, and its `data.idnp` is that IDNP (the data is bound to the partition it orders).
    fn check(&self, event: &CloudEvent) -> Result<Idnp, Refusal> {
        match self.inner.contracts.check(&event.event_type, &event.data) {
            Ok(()) => {}
            Err(EventDataError::UnknownType) => {
                return Err(Refusal::invalid(format!(
                    "event type `{}` has no contract",
                    event.event_type
                )));
            }
            Err(EventDataError::Violations(violations)) => {
                return Err(Refusal::Invalid {
                    problem: "the event's data does not pass its type's contract".into(),
                    violations: violations
                        .into_iter()
                        .map(|v| Violation {
                            pointer: format!("/data{}", v.pointer),
                            message: v.message,
                        })
                        .collect(),
                });
            }
        }
        let subject = event
            .subject_idnp()
            .map_err(|error| Refusal::invalid(error.to_string()))?;
        if event.data.get("idnp").and_then(Value::as_str) != Some(subject.expose()) {
            return Err(Refusal::invalid(
                "`data.idnp` is not the IDNP of the `partitionkey`",
            ));
        }
        Ok(subject)
    }

    /// Makes an event in review or dead due again (an operator's replay); `false` when no
    /// such event waits.
    pub async fn replay(&self, id: &str) -> Result<bool, esocial_store::StoreError> {
        let replayed = self.store().replay_event(id).await?;
        if replayed {
            self.inner.taken.notify_one();
        }
        Ok(replayed)
    }

    /// Makes a dead delivery due again; `false` when no such delivery is dead.
    pub async fn replay_delivery(&self, id: &str) -> Result<bool, esocial_store::StoreError> {
        let replayed = self.store().replay_delivery(id).await?;
        if replayed {
            self.inner.delivering.notify_one();
        }
        Ok(replayed)
    }

    /// Handles due events until the store has none, then waits for new ones or the poll.
    pub fn spawn_handler(&self, poll: Duration) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        tokio::spawn(async move {
            loop {
                match events.handle_due().await {
                    Ok(0) => {
                        let _ = tokio::time::timeout(poll, events.inner.taken.notified()).await;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        warn!(%error, "cannot claim events; trying again");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
        })
    }

    /// Claims due events (one per partition, at most [`CLAIM_BATCH`]) and handles them side by
    /// side; how many.
    pub async fn handle_due(&self) -> Result<usize, esocial_store::StoreError> {
        let claimed = self
            .store()
            .claim_events(
                CLAIM_BATCH,
                self.inner.lease_ms,
                self.inner.exchanger.instance(),
            )
            .await?;
        let count = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|event| self.handle(event))).await;
        Ok(count)
    }

    async fn handle(&self, claimed: ClaimedEvent) {
        let holder = self.inner.exchanger.instance();
        let store = self.store();
        let event = self
            .inner
            .exchanger
            .sealer()
            .open(&claimed.sealed_event)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .and_then(|value| CloudEvent::from_value(value).ok());
        let Some(event) = event else {
            let _ = store
                .event_parked(
                    &claimed.id,
                    holder,
                    Parked::Dead,
                    "hub.unreadable_event",
                    None,
                )
                .await;
            return;
        };
        let Ok(subject) = event.subject_idnp() else {
            let _ = store
                .event_parked(
                    &claimed.id,
                    holder,
                    Parked::Dead,
                    "caller.invalid_event",
                    None,
                )
                .await;
            return;
        };
        let subject_digest = self.inner.exchanger.digests(subject.expose()).remove(0);
        let outcome = self.route(&event, &subject).await;
        let metrics = &self.inner.exchanger.metrics().events_handled;
        let written = match outcome {
            Outcome::Handled { person, deliveries } => {
                let entry = self.entry(&event, &subject_digest, Some(&person), "completed", None);
                let count = deliveries.len();
                let written = store
                    .event_handled(&claimed.id, holder, Some(&person), &deliveries, &entry)
                    .await;
                if matches!(written, Ok(true)) {
                    metrics.with_label_values(&["handled"]).inc();
                    if count > 0 {
                        self.inner.delivering.notify_one();
                    }
                    info!(event = %claimed.id, alerts = count, "event handled");
                }
                written
            }
            Outcome::Later(reason) if claimed.attempts < self.inner.max_attempts => {
                metrics.with_label_values(&["later"]).inc();
                let at = esocial_store::now_millis() + crate::outbox::backoff(claimed.attempts);
                store.event_later(&claimed.id, holder, at, &reason).await
            }
            Outcome::Later(reason) => {
                metrics.with_label_values(&["dead"]).inc();
                let reason = format!("{reason} (after {} attempts)", claimed.attempts);
                store
                    .event_parked(&claimed.id, holder, Parked::Dead, &reason, None)
                    .await
            }
            Outcome::Parked(parked, reason) => {
                metrics
                    .with_label_values(&[match parked {
                        Parked::Review => "review",
                        Parked::Dead => "dead",
                    }])
                    .inc();
                let entry = self.entry(&event, &subject_digest, None, "failed", Some(&reason));
                store
                    .event_parked(&claimed.id, holder, parked, &reason, Some(&entry))
                    .await
            }
        };
        match written {
            Ok(true) => {}
            Ok(false) => warn!(event = %claimed.id, "the event's lease passed to another worker"),
            Err(error) => {
                warn!(event = %claimed.id, %error, "cannot end the event; it will be taken again")
            }
        }
    }

    /// Resolves the subject and works out the alerts of every matching subscription.
    async fn route(&self, event: &CloudEvent, subject: &Idnp) -> Outcome {
        let person = match self.inner.mpi.person_with_idnp(subject.expose()) {
            Ok(Some(person)) => person.to_string(),
            Ok(None) => return Outcome::Parked(Parked::Review, "subject.unresolved".into()),
            Err(_) => return Outcome::Parked(Parked::Review, "subject.ambiguous".into()),
        };
        let mut deliveries = Vec::new();
        for subscription in self
            .inner
            .subscriptions
            .matching(&event.event_type, &event.data)
        {
            let persons = match self.persons(subscription, event, subject).await {
                Ok(persons) => persons,
                Err(outcome) => return outcome,
            };
            for whose in persons {
                let cases = match self.open_cases(subscription, &whose).await {
                    Ok(cases) => cases,
                    Err(outcome) => return outcome,
                };
                for case in cases
                    .iter()
                    .filter(|case| subscription.covers_case(case["type"].as_str().unwrap_or("")))
                {
                    deliveries.extend(self.alerts(subscription, event, case));
                }
            }
        }
        Outcome::Handled { person, deliveries }
    }

    /// The persons whose cases `subscription` asks about for `event`.
    async fn persons(
        &self,
        subscription: &Subscription,
        event: &CloudEvent,
        subject: &Idnp,
    ) -> Result<Vec<Idnp>, Outcome> {
        let mut persons = Vec::new();
        for whose in &subscription.cases_of {
            match whose {
                Whose::Subject => persons.push(subject.clone()),
                Whose::Children => {
                    let family = self.ask(subscription, FAMILY_SERVICE, subject).await?;
                    persons.extend(
                        family["children"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|child| child["idnp"].as_str())
                            .filter_map(|idnp| Idnp::parse(idnp).ok()),
                    );
                }
                Whose::ProtectedPersons => persons.extend(
                    event.data["protectedPersons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .filter_map(|idnp| Idnp::parse(idnp).ok()),
                ),
            }
        }
        let mut seen = BTreeSet::new();
        persons.retain(|person| seen.insert(person.expose().to_string()));
        Ok(persons)
    }

    /// The open cases of `person`, as the case-management module lists them.
    async fn open_cases(
        &self,
        subscription: &Subscription,
        person: &Idnp,
    ) -> Result<Vec<Value>, Outcome> {
        let answer = self.ask(subscription, CASES_SERVICE, person).await?;
        Ok(answer["cases"].as_array().cloned().unwrap_or_default())
    }

    /// One exchange under the subscription's purpose; a person the registry does not know
    /// gives an empty answer.
    async fn ask(
        &self,
        subscription: &Subscription,
        service: &str,
        person: &Idnp,
    ) -> Result<Value, Outcome> {
        let request = ExchangeRequest {
            mode: Mode::Sync,
            service: service.into(),
            subject: person.clone(),
            purpose: Purpose {
                legal_basis: subscription.legal_basis.clone(),
                reason: subscription.reason.clone(),
                case_id: None,
            },
            calling_user: self.inner.calling_user.clone(),
            params: BTreeMap::new(),
            callback_url: None,
        };
        match self.inner.exchanger.run(&self.inner.client, request).await {
            Ok(result) => Ok(result.data),
            Err(ExchangeFailure { error, .. }) if error.code() == "caller.subject_not_found" => {
                Ok(json!({}))
            }
            Err(ExchangeFailure { error, .. }) if error.retryable() => {
                Err(Outcome::Later(error.code().to_string()))
            }
            Err(ExchangeFailure { error, .. }) => {
                Err(Outcome::Parked(Parked::Dead, error.code().to_string()))
            }
        }
    }

    /// The deliveries of one alert: MNotify to the case manager, a webhook to each module.
    fn alerts(
        &self,
        subscription: &Subscription,
        event: &CloudEvent,
        case: &Value,
    ) -> Vec<NewDelivery> {
        let case_id = case["caseId"].as_str().unwrap_or_default().to_string();
        if case_id.is_empty() {
            return Vec::new();
        }
        let link = self.inner.case_link.replace("{caseId}", &case_id);
        let seal = |payload: &Value| {
            self.inner
                .exchanger
                .sealer()
                .seal(payload.to_string().as_bytes())
        };
        let mut deliveries = Vec::new();
        let manager = case["caseManager"]["workEmail"].as_str();
        if let (Some(notification), Some(manager), true) =
            (&subscription.notification, manager, self.inner.notifies)
        {
            let id = Uuid::now_v7().to_string();
            let mut payload = json!({
                "externalId": id,
                "recipient": {"email": manager},
                "priority": subscription.priority.as_str(),
                "subject": notification.subject.to_value(),
                "body": notification.body.to_value(),
                "variables": {
                    "caseLink": link,
                    "caseId": case_id,
                    "priority": subscription.priority.as_str(),
                },
            });
            if let Some(short) = &notification.short_body {
                payload["shortBody"] = short.to_value();
            }
            deliveries.push(NewDelivery {
                id,
                purpose: subscription.id.clone(),
                channel: crate::outbox::MNOTIFY.into(),
                target: manager.to_string(),
                case_id: case_id.clone(),
                priority: subscription.priority.as_str().into(),
                sealed_payload: seal(&payload),
            });
        }
        for module in &subscription.modules {
            let id = Uuid::now_v7().to_string();
            let alert = CloudEvent {
                id: id.clone(),
                source: ALERT_SOURCE.into(),
                event_type: ALERT_TYPE.into(),
                partition_key: event.partition_key.clone(),
                time: Some(esocial_store::timestamp(time::OffsetDateTime::now_utc())),
                data: json!({
                    "subscription": subscription.id,
                    "priority": subscription.priority.as_str(),
                    "case": {
                        "caseId": case_id,
                        "type": case["type"],
                        "agency": case["agency"],
                        "link": link,
                    },
                    "event": {
                        "id": event.id,
                        "source": event.source,
                        "type": event.event_type,
                        "time": event.time,
                        "data": event.data,
                    },
                }),
                offset: None,
            };
            deliveries.push(NewDelivery {
                id,
                purpose: subscription.id.clone(),
                channel: crate::outbox::WEBHOOK.into(),
                target: module.clone(),
                case_id: case_id.clone(),
                priority: subscription.priority.as_str().into(),
                sealed_payload: seal(&alert.to_value()),
            });
        }
        deliveries
    }

    /// The audit entry of handling an event: which event, about whom, with what outcome.
    fn entry(
        &self,
        event: &CloudEvent,
        subject_digest: &str,
        person: Option<&str>,
        outcome: &str,
        error_code: Option<&str>,
    ) -> AuditEntryRow {
        AuditEntryRow {
            entry_id: Uuid::now_v7().to_string(),
            kind: "event.handled".into(),
            recorded_at: esocial_store::timestamp(time::OffsetDateTime::now_utc()),
            exchange_id: None,
            client_id: Some(self.inner.client.clone()),
            service: Some(event.event_type.clone()),
            legal_basis: None,
            reason: Some(format!("event {} from {}", event.id, event.source)),
            case_id: None,
            calling_user_digest: None,
            subject_digest: Some(subject_digest.into()),
            person_id: person.map(str::to_string),
            outcome: outcome.into(),
            error_code: error_code.map(str::to_string),
            fields_released: None,
            request_digest: None,
            response_digest: None,
        }
    }
}

/// Most events claimed (one per person) and handled side by side at once.
const CLAIM_BATCH: i64 = 64;
/// `type` of the events agencies report through NotifyCaseRelevantEvent.
pub const AGENCY_REPORT_TYPE: &str = "Md.Esocial.Agency.CaseEvent.Reported";
/// The service the events flow asks for a person's open cases.
pub const CASES_SERVICE: &str = "cases.active-cases";
/// The service it asks for a person's children.
pub const FAMILY_SERVICE: &str = "civil.family-relations";
/// `source` of the alerts the hub sends modules.
pub const ALERT_SOURCE: &str = "urn:md:gov:esocial:hub";
/// `type` of those alerts.
pub const ALERT_TYPE: &str = "Md.Esocial.Hub.Alert.Raised";
