//! The outbox's sender: each delivery (an alert, a hand-off's document or notice) is sent over
//! mTLS, to MNotify as a notification (its id as `externalId`, so MNotify makes one
//! notification of a resend) or to a named endpoint (an eSocial module, an agency) as a
//! CloudEvent signed as a compact JWS (its id as the event id). A 2xx
//! ends it sent; a refusal (4xx other than 408 and 429) ends it dead with the status; anything
//! else is tried again with a growing pause until the last attempt, which ends it dead. Dead
//! deliveries wait for an operator's replay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde_json::Value;
use tracing::{info, warn};

use crate::handoffs::{DOCUMENT, Handoffs};
use crate::metrics::HubMetrics;
use esocial_store::{ClaimedDelivery, Store};
use esocial_wire::crypto::jws::{self, JwsSigner};
use esocial_wire::crypto::sealing::Sealer;
use esocial_wire::crypto::tls::{ClientPem, mutual_tls_client};

/// Channel of a notification to a case manager through MNotify.
pub const MNOTIFY: &str = "mnotify";
/// Channel of a signed CloudEvent to an eSocial module.
pub const WEBHOOK: &str = "webhook";
/// How long a webhook's signature is valid.
const SIGNATURE_TTL: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    http: reqwest::Client,
    signer: Arc<JwsSigner>,
    sealer: Sealer,
    metrics: HubMetrics,
    /// `{mnotify_url}/api/Notification`.
    notification_url: Option<String>,
    /// Endpoint name (a module's, a party's) → its webhook address.
    endpoints: HashMap<String, String>,
    /// Told when a hand-off's document reached its receiver.
    handoffs: Option<Handoffs>,
    max_attempts: i64,
    lease_ms: i64,
    instance: String,
}

/// Where and how the outbox sends.
pub struct OutboxSettings {
    /// MNotify's base URL.
    pub mnotify_url: Option<String>,
    /// Endpoint name → webhook address.
    pub endpoints: HashMap<String, String>,
    pub max_attempts: u32,
    pub lease_ms: u64,
    pub timeout_ms: u64,
}

/// What one attempt came to.
enum Sent {
    Ok(Option<String>),
    Refused(String),
    Failed(String),
}

impl Deliverer {
    pub fn new(
        settings: OutboxSettings,
        handoffs: Option<Handoffs>,
        store: Store,
        tls: ClientPem<'_>,
        sealer: Sealer,
        metrics: HubMetrics,
        instance: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            http: mutual_tls_client(tls, Duration::from_millis(settings.timeout_ms))
                .context("the delivery client")?,
            signer: Arc::new(JwsSigner::from_pem(tls.key_pem, tls.certificate_pem)?),
            sealer,
            metrics,
            notification_url: settings
                .mnotify_url
                .as_ref()
                .map(|url| format!("{}/api/Notification", url.trim_end_matches('/'))),
            endpoints: settings.endpoints,
            handoffs,
            max_attempts: i64::from(settings.max_attempts),
            lease_ms: settings.lease_ms as i64,
            instance: instance.to_string(),
        })
    }

    /// Sends due deliveries until none is left, then waits for `written` or the poll.
    pub fn spawn(
        self,
        written: Arc<tokio::sync::Notify>,
        poll: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.deliver_due().await {
                    Ok(0) => {
                        let _ = tokio::time::timeout(poll, written.notified()).await;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        warn!(%error, "cannot claim deliveries; trying again");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
        })
    }

    /// Asks MNotify every `interval` what became of the notifications it took in the last day
    /// (Pending ... Delivered, Read, or Failed) and records it; a failed one is counted and
    /// logged, so that someone can reach the case manager another way.
    pub fn spawn_follower(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(error) = self.follow_notifications().await {
                    warn!(%error, "cannot follow MNotify's notifications; trying again");
                }
            }
        })
    }

    /// One round of [`Deliverer::spawn_follower`]; how many statuses changed.
    pub async fn follow_notifications(&self) -> anyhow::Result<usize> {
        let Some(url) = &self.notification_url else {
            return Ok(0);
        };
        let since = esocial_store::now_millis() - 86_400_000;
        let mut changed = 0;
        for (id, remote_id) in self.store.notifications_to_follow(since, 200).await? {
            let answer = self.http.get(format!("{url}/{remote_id}")).send().await;
            let Ok(response) = answer else { continue };
            if !response.status().is_success() {
                continue;
            }
            let Some(status) = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|answer| answer["status"].as_str().map(str::to_string))
            else {
                continue;
            };
            self.store.notification_status(&id, &status).await?;
            self.metrics
                .notification_statuses
                .with_label_values(&[status.as_str()])
                .inc();
            if status == "Failed" || status == "Cancelled" {
                warn!(delivery = %id, status, "MNotify could not reach the case manager");
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// Claims due deliveries and sends them side by side; how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, esocial_store::StoreError> {
        let claimed = self
            .store
            .claim_deliveries(32, self.lease_ms, &self.instance)
            .await?;
        let count = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|d| self.deliver(d))).await;
        Ok(count)
    }

    async fn deliver(&self, delivery: ClaimedDelivery) {
        let sent = match self.payload(&delivery) {
            Some(payload) => self.send(&delivery, &payload).await,
            None => Sent::Refused("hub.unreadable_delivery".into()),
        };
        let (outcome, written) = match sent {
            Sent::Ok(_) if delivery.purpose == DOCUMENT => (
                "sent",
                match &self.handoffs {
                    Some(handoffs) => {
                        handoffs
                            .document_delivered(&delivery.id, &self.instance, &delivery.origin_id)
                            .await
                    }
                    None => Ok(false),
                },
            ),
            Sent::Ok(remote_id) => (
                "sent",
                self.store
                    .delivery_sent(&delivery.id, &self.instance, remote_id.as_deref())
                    .await,
            ),
            Sent::Refused(reason) => (
                "dead",
                self.store
                    .delivery_failed(&delivery.id, &self.instance, None, &reason)
                    .await,
            ),
            Sent::Failed(reason) if delivery.attempts < self.max_attempts => (
                "later",
                self.store
                    .delivery_failed(
                        &delivery.id,
                        &self.instance,
                        Some(esocial_store::now_millis() + backoff(delivery.attempts)),
                        &reason,
                    )
                    .await,
            ),
            Sent::Failed(reason) => (
                "dead",
                self.store
                    .delivery_failed(
                        &delivery.id,
                        &self.instance,
                        None,
                        &format!("{reason} (after {} attempts)", delivery.attempts),
                    )
                    .await,
            ),
        };
        self.metrics
            .deliveries
            .with_label_values(&[&delivery.channel, outcome])
            .inc();
        match written {
            Ok(true) if outcome == "dead" => {
                warn!(delivery = %delivery.id, channel = %delivery.channel, "delivery dead-lettered")
            }
            Ok(true) => {
                info!(delivery = %delivery.id, channel = %delivery.channel, outcome, "delivery attempted")
            }
            Ok(false) => {
                warn!(delivery = %delivery.id, "the delivery's lease passed to another worker")
            }
            Err(error) => {
                warn!(delivery = %delivery.id, %error, "cannot record the delivery; it will be sent again")
            }
        }
    }

    fn payload(&self, delivery: &ClaimedDelivery) -> Option<Value> {
        let bytes = self.sealer.open(&delivery.sealed_payload).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn send(&self, delivery: &ClaimedDelivery, payload: &Value) -> Sent {
        let request = match delivery.channel.as_str() {
            MNOTIFY => match &self.notification_url {
                Some(url) => self.http.post(url).json(payload),
                None => return Sent::Failed("events.mnotify_url is not set".into()),
            },
            WEBHOOK => {
                let Some(url) = self.endpoints.get(&delivery.target) else {
                    return Sent::Failed(format!(
                        "endpoint `{}` is not configured",
                        delivery.target
                    ));
                };
                let signed = match jws::sign_compact(
                    payload.to_string().as_bytes(),
                    &self.signer,
                    SystemTime::now(),
                    SIGNATURE_TTL,
                ) {
                    Ok(signed) => signed,
                    Err(error) => return Sent::Failed(format!("hub.signing_failed: {error}")),
                };
                self.http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/jose")
                    .body(signed)
            }
            other => return Sent::Refused(format!("hub.unknown_channel: {other}")),
        };
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let remote_id = if delivery.channel == MNOTIFY {
                    response
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|answer| answer["id"].as_str().map(str::to_string))
                } else {
                    None
                };
                Sent::Ok(remote_id)
            }
            Ok(response) => {
                let status = response.status();
                let reason = format!("{}: HTTP {}", delivery.channel, status.as_u16());
                if status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Sent::Refused(reason)
                } else {
                    Sent::Failed(reason)
                }
            }
            Err(error) if error.is_timeout() => {
                Sent::Failed(format!("{}: timeout", delivery.channel))
            }
            Err(_) => Sent::Failed(format!("{}: unreachable", delivery.channel)),
        }
    }
}

/// Milliseconds to wait before attempt `attempts + 1`: doubling from one second, at most five
/// minutes, with up to a quarter more at random so that retries spread out.
pub fn backoff(attempts: i64) -> i64 {
    let base = 1_000_i64
        .saturating_mul(1 << attempts.clamp(0, 9))
        .min(300_000);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as i64 * base / 4000;
    base + jitter
}
