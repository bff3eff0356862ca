//! Workers of asynchronous exchanges: per registry, a bounded number at a time, behind a
//! circuit breaker so that one dead registry does not hold the others' workers; a callback
//! dispatcher; and, with RabbitMQ, a sweeper that republishes what is due or was lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Exchanger, ProcessOutcome};
use crate::queue::QueueBackend;
use crate::queue::rabbit::{RECONNECT_DELAY, Rabbit};

/// How workers run.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How often the embedded queue looks for work when nothing wakes it.
    pub poll_interval: Duration,
    /// A queued exchange whose message has not been consumed in this long is republished.
    pub republish_after: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(200),
            republish_after: Duration::from_secs(60),
        }
    }
}

/// Starts the workers for every registry of the catalog (and the sweeper with RabbitMQ).
pub fn start_workers(exchanger: Exchanger, settings: QueueSettings) -> Vec<JoinHandle<()>> {
    let settings = Arc::new(settings);
    let registries: Vec<String> = exchanger
        .catalog()
        .registries()
        .map(|r| r.name.clone())
        .collect();
    let mut handles = Vec::new();
    for registry in registries {
        let exchanger = exchanger.clone();
        let settings = settings.clone();
        handles.push(match exchanger.queue().clone() {
            QueueBackend::Embedded => tokio::spawn(poll_store(exchanger, registry, settings)),
            QueueBackend::Rabbit(rabbit) => tokio::spawn(consume(exchanger, rabbit, registry)),
        });
    }
    let callbacks = exchanger.clone();
    handles.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            callbacks.deliver_callbacks().await;
        }
    }));
    if let QueueBackend::Rabbit(rabbit) = exchanger.queue().clone() {
        handles.push(tokio::spawn(sweep(exchanger, rabbit, settings)));
    }
    handles
}

/// The embedded queue: claim due work from the store, bounded and breaker-aware. A
/// submission that finds a free slot runs at once instead (`Exchanger::submit_async`); this
/// loop takes what waited, retries and what a lease left behind.
async fn poll_store(exchanger: Exchanger, registry: String, settings: Arc<QueueSettings>) {
    let Some(lane) = exchanger.queue_lane(&registry) else {
        return;
    };
    let permits = lane.slots.clone();
    loop {
        // The registry's circuit is open: its exchanges wait rather than fail one by one.
        if let Some(wait) = exchanger.breaker(&registry).and_then(|b| b.wait()) {
            tokio::time::sleep(wait).await;
            continue;
        }
        let free = permits.available_permits();
        if free == 0 {
            // Every slot is busy: wait for one to free up rather than for the next poll.
            if let Ok(permit) = permits.clone().acquire_owned().await {
                drop(permit);
            }
            continue;
        }
        let lease_ms = exchanger.lease().as_millis() as i64;
        let claimed = match exchanger
            .store()
            .claim_due(&registry, free as i64, lease_ms, exchanger.instance())
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                warn!(%error, registry, "cannot read the queue");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = lane.woken() => {}
                _ = tokio::time::sleep(settings.poll_interval) => {}
            }
            continue;
        }
        for claimed in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let exchanger = exchanger.clone();
            tokio::spawn(async move {
                exchanger.perform(claimed).await;
                drop(permit);
            });
        }
        // Claimed work is in flight; look again at once for more.
        tokio::task::yield_now().await;
    }
}

/// RabbitMQ: consume the registry's queue with manual acks; reconnect when the broker goes.
async fn consume(exchanger: Exchanger, rabbit: Rabbit, registry: String) {
    let Some(permits) = exchanger
        .queue_lane(&registry)
        .map(|lane| lane.slots.clone())
    else {
        return;
    };
    loop {
        let prefetch = exchanger.queue_concurrency().min(u16::MAX as usize) as u16;
        let (channel, mut consumer) = match rabbit.consumer(&registry, prefetch).await {
            Ok(pair) => pair,
            Err(_) => {
                // `Rabbit` logs the outage once; keep trying quietly.
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        info!(registry, "consuming");
        while let Some(delivery) = consumer.next().await {
            let Ok(delivery) = delivery else {
                break;
            };
            if let Some(wait) = exchanger.breaker(&registry).and_then(|b| b.wait()) {
                tokio::time::sleep(wait).await;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let id = std::str::from_utf8(&delivery.data)
                .ok()
                .and_then(|text| text.parse::<uuid::Uuid>().ok());
            let exchanger = exchanger.clone();
            tokio::spawn(async move {
                let outcome = match id {
                    Some(id) => exchanger.process(id).await,
                    None => ProcessOutcome::Failed,
                };
                // The store holds the state: a retry is republished by the sweeper when due,
                // so the message is done with, except a dead letter, which goes to the
                // dead-letter queue for operators.
                let settled = if outcome == ProcessOutcome::DeadLettered || id.is_none() {
                    delivery
                        .nack(BasicNackOptions {
                            requeue: false,
                            ..BasicNackOptions::default()
                        })
                        .await
                } else {
                    delivery.ack(BasicAckOptions::default()).await
                };
                if let Err(error) = settled {
                    warn!(%error, "could not settle a delivery; the broker will redeliver it");
                }
                drop(permit);
            });
        }
        drop(channel);
        warn!(registry, "consumer stopped; reconnecting");
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// RabbitMQ: republish what the store says is due (retries, expired leases, lost messages).
async fn sweep(exchanger: Exchanger, rabbit: Rabbit, settings: Arc<QueueSettings>) {
    let stale = settings.republish_after.as_millis() as i64;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if !rabbit.ensure_connected().await {
            continue;
        }
        let due = match exchanger.store().due_for_publish(stale).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "cannot read due exchanges");
                continue;
            }
        };
        for item in due {
            match rabbit.publish(&item.registry, item.id).await {
                Ok(()) => {
                    if let Err(error) = exchanger.store().mark_enqueued(item.id).await {
                        warn!(%error, "cannot mark an exchange as enqueued");
                    }
                }
                Err(error) => {
                    warn!(%error, "republish failed; will try again");
                    break;
                }
            }
        }
    }
}
