//! Asynchronous exchanges: accepted into the store and the queue, answered `202`, carried out
//! by workers with retries, and ended exactly once (completed, failed or dead-lettered).

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use super::{
    ErrorSummary, ExchangeError, ExchangeFailure, ExchangeRequest, Exchanger, Purpose, Target,
    Wire, registry_result,
};
use crate::queue::QueueBackend;
use esocial_store::{
    ClaimedExchange, Closing, ExchangeOutcome, Lease, NewAsyncExchange, SeenMessage, Submission,
    now_millis, timestamp,
};
use esocial_wire::domain::Idnp;

/// The request as sealed in the store: everything a worker needs, nothing else.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedRequest {
    service: String,
    subject_idnp: String,
    legal_basis: String,
    reason: String,
    case_id: Option<String>,
    calling_user_idnp: String,
    params: BTreeMap<String, String>,
}

impl SealedRequest {
    fn from_request(request: &ExchangeRequest) -> Self {
        Self {
            service: request.service.clone(),
            subject_idnp: request.subject.expose().to_string(),
            legal_basis: request.purpose.legal_basis.clone(),
            reason: request.purpose.reason.clone(),
            case_id: request.purpose.case_id.clone(),
            calling_user_idnp: request.calling_user.expose().to_string(),
            params: request.params.clone(),
        }
    }

    fn into_request(self) -> Option<ExchangeRequest> {
        Some(ExchangeRequest {
            mode: super::request::Mode::Async,
            service: self.service,
            subject: Idnp::parse(&self.subject_idnp).ok()?,
            purpose: Purpose {
                legal_basis: self.legal_basis,
                reason: self.reason,
                case_id: self.case_id,
            },
            calling_user: Idnp::parse(&self.calling_user_idnp).ok()?,
            params: self.params,
            callback_url: None,
        })
    }
}

/// How a worker's turn with an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Not claimable: already ended, or another worker holds it.
    Skipped,
    Completed,
    Failed,
    /// A retryable failure; due again later.
    Retrying,
    /// The last attempt failed; the exchange is dead-lettered.
    DeadLettered,
}

/// Retry policy of asynchronous exchanges.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long a claimed exchange stays with its worker before another may take it.
    pub lease: Duration,
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`: exponential from `base_delay`, with jitter.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(self.max_delay)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            lease: Duration::from_secs(60),
        }
    }
}

/// What the caller gets back for an accepted async exchange.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub exchange_id: Uuid,
    /// The idempotency key had been used for the same submission.
    pub repeated: bool,
}

impl Exchanger {
    /// Accepts an async exchange: checks the grant, seals the request into the store and hands
    /// it to the queue. Returns once both hold it durably.
    pub async fn submit_async(
        &self,
        client: &str,
        request: ExchangeRequest,
        idempotency_key: Option<String>,
        submission_digest: String,
    ) -> Result<Accepted, ExchangeFailure> {
        let authorised = self.authorise_request(client, &request).await?;
        let Target::Service(service) = authorised.target else {
            return Err(ExchangeError::AsyncNotSupported(request.service.clone()).into());
        };
        if let Some(url) = &request.callback_url
            && !self
                .callbacks
                .get(client)
                .is_some_and(|registered| registered.contains(url))
        {
            return Err(ExchangeError::CallbackNotRegistered.into());
        }
        let sealed = serde_json::to_vec(&SealedRequest::from_request(&request))
            .map_err(|_| ExchangeError::Internal)?;
        let row = self.new_row(
            esocial_store::Direction::Outbound,
            client,
            &service.id,
            &request.purpose,
            request.calling_user.expose(),
            request.subject.expose(),
        );
        let exchange_id = row.id;
        // With the embedded queue, a free worker slot runs the exchange at once: it is stored
        // already taken by this hub, so no worker has to find and claim it. (With RabbitMQ the
        // broker hands it out, to whichever hub consumes it.)
        let slot = match self.queue {
            QueueBackend::Embedded
                if self
                    .breaker(&service.registry)
                    .and_then(|b| b.wait())
                    .is_none() =>
            {
                self.queue_lane(&service.registry)
                    .and_then(|lane| lane.slots.clone().try_acquire_owned().ok())
            }
            _ => None,
        };
        let submission = NewAsyncExchange {
            exchange: row,
            registry: service.registry.clone(),
            idempotency_key,
            submission_digest,
            sealed_request: self.sealer.seal(&sealed),
            callback_url: request.callback_url.clone(),
            taken: slot.as_ref().map(|_| Lease {
                holder: self.instance.to_string(),
                until: now_millis() + self.retry.lease.as_millis() as i64,
            }),
        };
        let submitted = self
            .store
            .submit_async(&submission)
            .await
            .map_err(|error| {
                warn!(%error, "cannot record the async exchange; refusing it");
                ExchangeFailure::from(ExchangeError::StoreUnavailable)
            })?;
        match submitted {
            Submission::Repeated { id, same: true } => {
                return Ok(Accepted {
                    exchange_id: id,
                    repeated: true,
                });
            }
            Submission::Repeated { same: false, .. } => {
                return Err(ExchangeError::IdempotencyConflict.into());
            }
            Submission::Accepted => {}
        }
        if let Some(slot) = slot {
            let taken = ClaimedExchange {
                id: exchange_id,
                client_id: submission.exchange.client_id,
                service: submission.exchange.service,
                attempts: 1,
                sealed_request: submission.sealed_request,
                received_at: timestamp(submission.exchange.received_at),
            };
            let exchanger = self.clone();
            tokio::spawn(async move {
                exchanger.perform(taken).await;
                drop(slot);
            });
            info!(%exchange_id, service = %service.id, "async exchange accepted and started");
            return Ok(Accepted {
                exchange_id,
                repeated: false,
            });
        }
        if let Err(error) = self.queue.publish(&service.registry, exchange_id).await {
            // Not confirmed by the broker, so not accepted: end it now, answer 503. Unless a
            // worker has taken it meanwhile (the broker had the message after all): then it
            // runs, and the caller is told so rather than invited to submit it again.
            if let Ok(false) = self.store.refuse_submission(exchange_id).await {
                info!(%exchange_id, "queue did not confirm, but a worker has the exchange; accepted");
                return Ok(Accepted {
                    exchange_id,
                    repeated: false,
                });
            }
            warn!(%error, %exchange_id, "queue did not confirm; refusing the exchange");
            return Err(ExchangeFailure {
                exchange_id: Some(exchange_id),
                error: ExchangeError::QueueUnavailable,
            });
        }
        self.wake_embedded_queue(&service.registry);
        info!(%exchange_id, service = %service.id, "async exchange accepted");
        Ok(Accepted {
            exchange_id,
            repeated: false,
        })
    }

    /// Tells the embedded queue's loop for `registry` that it has work (with RabbitMQ, the
    /// broker delivers it instead).
    fn wake_embedded_queue(&self, registry: &str) {
        if let (QueueBackend::Embedded, Some(lane)) = (&self.queue, self.queue_lane(registry)) {
            lane.wake();
        }
    }

    /// How long a claim holds an exchange for this hub.
    pub fn lease(&self) -> std::time::Duration {
        self.retry.lease
    }

    /// The instance id this hub's claims carry.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// One worker turn with an exchange: claim it, call the registry, and end it or schedule
    /// a retry.
    pub async fn process(&self, exchange_id: Uuid) -> ProcessOutcome {
        let claimed = match self
            .store
            .claim(
                exchange_id,
                self.retry.lease.as_millis() as i64,
                &self.instance,
            )
            .await
        {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return ProcessOutcome::Skipped,
            Err(error) => {
                warn!(%error, %exchange_id, "cannot claim; leaving it for later");
                return ProcessOutcome::Skipped;
            }
        };
        self.perform(claimed).await
    }

    /// Makes one attempt of an exchange this hub has claimed, and ends it or schedules the
    /// next.
    pub async fn perform(&self, claimed: ClaimedExchange) -> ProcessOutcome {
        let exchange_id = claimed.id;
        let started = std::time::Instant::now();
        // A request that cannot run any more (its seal broken, its client, service or grant
        // gone since it was accepted) fails for good.
        let fail = |error: ExchangeError| async move {
            warn!(%exchange_id, code = error.code(), "the queued exchange cannot run");
            self.close_async(
                exchange_id,
                &Wire::default().failed(error.code()),
                None,
                None,
                None,
            )
            .await;
            ProcessOutcome::Failed
        };
        let Some(request) = self
            .sealer
            .open(&claimed.sealed_request)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SealedRequest>(&bytes).ok())
            .and_then(SealedRequest::into_request)
        else {
            return fail(ExchangeError::Internal).await;
        };
        let authorised = match self.authorise(&claimed.client_id, &claimed.service) {
            Ok(authorised) => authorised,
            Err(error) => return fail(error).await,
        };
        let Target::Service(service) = authorised.target else {
            return fail(ExchangeError::AsyncNotSupported(claimed.service.clone())).await;
        };
        let (entity, grant) = (&authorised.entity, &authorised.grant);
        let attempts = claimed.attempts.max(0) as u32;
        let delivery = esocial_wire::mconnect::envelope::Delivery {
            exchange_id: exchange_id.to_string(),
            attempt: attempts.max(1),
        };
        let (outcome, wire) = self
            .call_registry(service, entity, &request, delivery)
            .await;
        if let Err(error) = &outcome {
            self.observe(&service.id, error.code(), started);
        }
        match outcome {
            Ok(decoded) => {
                let result = registry_result(
                    exchange_id,
                    service,
                    grant,
                    decoded,
                    claimed.received_at.clone(),
                    OffsetDateTime::now_utc(),
                );
                let sealed = serde_json::to_vec(&result)
                    .map(|bytes| self.sealer.seal(&bytes))
                    .ok();
                let closing = self
                    .close_async(
                        exchange_id,
                        &wire.completed(&result),
                        sealed.as_deref(),
                        None,
                        wire.answer.as_ref(),
                    )
                    .await;
                let label = match closing {
                    Some(Closing::Replayed) => ExchangeError::RegistryReplayedAnswer.code(),
                    _ => "ok",
                };
                self.observe(&service.id, label, started);
                match closing {
                    Some(Closing::Closed) => ProcessOutcome::Completed,
                    Some(Closing::AlreadyClosed) => ProcessOutcome::Skipped,
                    Some(Closing::Replayed) => ProcessOutcome::Failed,
                    // The lease runs out and another attempt is made; the answer is delayed,
                    // not lost.
                    None => ProcessOutcome::Retrying,
                }
            }
            Err(error) if error.retryable() && attempts < self.retry.max_attempts => {
                let delay = self.retry.delay_after(attempts);
                let due = esocial_store::now_millis() + delay.as_millis() as i64;
                self.metrics
                    .retries
                    .with_label_values(&[service.registry.as_str(), error.code()])
                    .inc();
                if let Err(error) = self.store.retry_later(exchange_id, due, error.code()).await {
                    // The lease runs out and the exchange is claimed again.
                    warn!(%error, %exchange_id, "cannot schedule the retry");
                }
                info!(%exchange_id, attempts, delay_ms = delay.as_millis() as u64, code = error.code(), "retry scheduled");
                ProcessOutcome::Retrying
            }
            Err(error) => {
                let dead = error.retryable();
                let log = wire.failed(error.code());
                let reason = dead.then(|| format!("{} after {attempts} attempts", error.code()));
                self.close_async(
                    exchange_id,
                    &log,
                    None,
                    reason.as_deref(),
                    wire.answer.as_ref(),
                )
                .await;
                if dead {
                    self.metrics
                        .dead_letters
                        .with_label_values(&[service.registry.as_str()])
                        .inc();
                    warn!(%exchange_id, attempts, code = error.code(), "dead-lettered");
                    ProcessOutcome::DeadLettered
                } else {
                    ProcessOutcome::Failed
                }
            }
        }
    }

    /// The last step of an async attempt: the row's one terminal state, with the sealed
    /// result or the dead-letter reason, and the registry's `answer` recorded in the replay
    /// cache. A replayed answer closes the row as failed for it instead. `None` when the store
    /// failed, and then the lease runs out and the exchange is tried again.
    async fn close_async(
        &self,
        exchange_id: Uuid,
        outcome: &ExchangeOutcome,
        sealed_result: Option<&str>,
        dead_letter_reason: Option<&str>,
        answer: Option<&SeenMessage>,
    ) -> Option<Closing> {
        let closing = self
            .store
            .finish_async(
                exchange_id,
                outcome,
                sealed_result,
                dead_letter_reason,
                answer,
            )
            .await;
        match closing {
            Ok(Closing::Replayed) => {
                warn!(%exchange_id, "registry answer replayed: its message id was seen before");
                let failed = outcome.as_failed(ExchangeError::RegistryReplayedAnswer.code());
                Box::pin(self.close_async(exchange_id, &failed, None, None, None)).await?;
                Some(Closing::Replayed)
            }
            Ok(closing) => Some(closing),
            Err(error) => {
                warn!(%error, %exchange_id, "cannot close the async exchange; its lease will run out");
                None
            }
        }
    }

    /// The state of an exchange, for the client that made it (others get 404) or, with
    /// `client` None, for an operator.
    pub async fn status(
        &self,
        client: Option<&str>,
        exchange_id: Uuid,
    ) -> Result<Value, ExchangeFailure> {
        let record = self
            .store
            .exchange(exchange_id)
            .await
            .map_err(|_| ExchangeError::StoreUnavailable)?
            .filter(|record| client.is_none_or(|c| record.client_id == c))
            .ok_or(ExchangeError::UnknownExchange)?;
        let status = match (record.status, &record.dead_letter_reason) {
            (esocial_store::ExchangeStatus::InProgress, _) => "in_progress",
            (esocial_store::ExchangeStatus::Completed, _) => "completed",
            (esocial_store::ExchangeStatus::Failed, Some(_)) => "dead_lettered",
            (esocial_store::ExchangeStatus::Failed, None) => "failed",
        };
        let mut body = json!({
            "exchangeId": record.id,
            "service": record.service,
            "mode": record.mode,
            "status": status,
            "attempts": record.attempts,
            "receivedAt": record.received_at,
        });
        if let Some(completed_at) = &record.completed_at {
            body["completedAt"] = json!(completed_at);
        }
        if let Some(parent) = &record.parent_id {
            body["parentId"] = json!(parent);
        }
        if let Some(result) = record
            .sealed_result
            .as_deref()
            .and_then(|sealed| self.sealer.open(sealed).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        {
            body["result"] = result;
        }
        if status == "failed" || status == "dead_lettered" {
            let code = record
                .error_code
                .clone()
                .unwrap_or_else(|| "hub.internal".into());
            body["error"] = json!(ErrorSummary::of_code(
                &code,
                record.dead_letter_reason.clone()
            ));
        }
        Ok(body)
    }

    /// Delivers the completion callbacks that are due: a JWS signed by the hub over
    /// `{"exchangeId", "status", "completedAt"}`, without personal data (the module reads the
    /// result with GET). Failed deliveries are retried with backoff, up to ten attempts.
    pub async fn deliver_callbacks(&self) {
        let due = match self.store.due_callbacks(50).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "cannot read due callbacks");
                return;
            }
        };
        for (exchange_id, _client, url, attempts) in due {
            let Ok(status) = self.status(None, exchange_id).await else {
                continue;
            };
            let notice = json!({
                "exchangeId": exchange_id,
                "status": status["status"],
                "completedAt": status["completedAt"],
                "location": format!("/api/v1/exchanges/{exchange_id}"),
            });
            let delivered = match self.mconnect.sign_notice(notice.to_string().as_bytes()) {
                Ok(token) => self
                    .mconnect
                    .notify(&url, token)
                    .await
                    .is_ok_and(|status| (200..300).contains(&status)),
                Err(_) => false,
            };
            let attempts = attempts.max(0) as u32 + 1;
            let retry_at = (!delivered && attempts < 10).then(|| {
                esocial_store::now_millis() + self.retry.delay_after(attempts).as_millis() as i64
            });
            if !delivered {
                warn!(%exchange_id, attempts, "callback not delivered");
            }
            if let Err(error) = self
                .store
                .record_callback(exchange_id, delivered, retry_at)
                .await
            {
                warn!(%error, "cannot record a callback delivery");
            }
        }
    }

    /// Starts a new async exchange from a dead-lettered one (lineage kept in `parentId`), for
    /// `operator`, whose action is audited.
    pub async fn replay(&self, original: Uuid, operator: &str) -> Result<Uuid, ExchangeFailure> {
        let unavailable = |_| ExchangeError::StoreUnavailable;
        let Some(due) = self
            .store
            .replay(original, operator)
            .await
            .map_err(unavailable)?
        else {
            let exists = self.store.exchange(original).await.map_err(unavailable)?;
            return Err(match exists {
                Some(_) => ExchangeError::NotDeadLettered,
                None => ExchangeError::UnknownExchange,
            }
            .into());
        };
        let replay = due.id;
        if self.queue.publish(&due.registry, replay).await.is_err() {
            // Stays queued in the store; the sweeper publishes it when the broker is back.
            warn!(%replay, "replay not yet confirmed by the broker");
        }
        self.wake_embedded_queue(&due.registry);
        info!(%original, %replay, "dead-lettered exchange replayed");
        Ok(replay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            lease: Duration::from_secs(1),
        };
        for attempts in 1..=10 {
            let delay = policy.delay_after(attempts);
            assert!(delay >= Duration::from_millis(100), "{attempts}: {delay:?}");
            assert!(delay <= Duration::from_secs(4), "{attempts}: {delay:?}");
        }
        assert!(policy.delay_after(1) < Duration::from_millis(250));
        assert!(policy.delay_after(6) >= Duration::from_secs(2));
    }

    #[test]
    fn stored_codes_keep_their_fault_and_retryability() {
        use super::super::Fault;
        use super::super::error::{fault_of_code, retryable_code};
        assert_eq!(fault_of_code("registry.timeout"), Fault::Registry);
        assert!(retryable_code("registry.timeout"));
        assert_eq!(fault_of_code("caller.subject_not_found"), Fault::Caller);
        assert!(!retryable_code("caller.subject_not_found"));
        assert_eq!(fault_of_code("hub.queue_unavailable"), Fault::Hub);
        assert!(retryable_code("hub.queue_unavailable"));
    }
}
