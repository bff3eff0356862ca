//! RabbitMQ through lapin: a durable direct exchange with one durable queue per registry,
//! dead-lettering to `esocial.dead`, persistent messages published with confirms, and
//! consumers with manual acks and a bounded prefetch. The connection is re-established when it
//! drops; anything unconfirmed is republished from the store by the sweeper.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::RwLock;
use tracing::{info, warn};

/// Names of the broker objects under a namespace (`esocial` in production; tests use their
/// own so that they can share one broker).
#[derive(Debug, Clone)]
pub struct Topology {
    namespace: String,
}

impl Topology {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
        }
    }
    /// Direct exchange routing to the registry queues.
    pub fn exchange(&self) -> String {
        format!("{}.exchanges", self.namespace)
    }
    /// Fanout exchange receiving dead letters.
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.namespace)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }
    /// The queue of a registry.
    pub fn queue(&self, registry: &str) -> String {
        format!("{}.registry.{registry}", self.namespace)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RabbitError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("broker refused the message")]
    Nacked,
}

impl From<lapin::Error> for RabbitError {
    fn from(error: lapin::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

struct Link {
    connection: Connection,
    publisher: Channel,
}

/// A connection to RabbitMQ that re-establishes itself.
#[derive(Clone)]
pub struct Rabbit {
    url: Arc<SecretString>,
    topology: Topology,
    registries: Arc<Vec<String>>,
    link: Arc<RwLock<Option<Link>>>,
    /// Set while the broker is unreachable, so the outage is logged once, not per attempt.
    outage: Arc<std::sync::atomic::AtomicBool>,
    /// One reconnect attempt at a time, with backoff: whoever needs the broker while it is
    /// away waits on this attempt's outcome instead of starting its own.
    reconnecting: Arc<tokio::sync::Mutex<Backoff>>,
}

/// Longest wait for the broker's publisher confirm; then the submission is refused (503).
pub const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest wait for one connection attempt.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(250);
const LONGEST_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// When the next reconnect attempt may be made.
struct Backoff {
    next_attempt: tokio::time::Instant,
    delay: std::time::Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_attempt: tokio::time::Instant::now(),
            delay: FIRST_RETRY,
        }
    }
}

impl Rabbit {
    /// Connects and declares the topology for `registries`.
    pub async fn connect(
        url: SecretString,
        namespace: &str,
        registries: Vec<String>,
    ) -> Result<Self, RabbitError> {
        let rabbit = Self {
            url: Arc::new(url),
            topology: Topology::new(namespace),
            registries: Arc::new(registries),
            link: Arc::new(RwLock::new(None)),
            outage: Arc::default(),
            reconnecting: Arc::default(),
        };
        rabbit.reconnect().await?;
        Ok(rabbit)
    }

    async fn reconnect(&self) -> Result<(), RabbitError> {
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(self.url.expose_secret(), ConnectionProperties::default()),
        )
        .await
        .map_err(|_| RabbitError::Unavailable("connection attempt timed out".into()))??;
        let publisher = connection.create_channel().await?;
        declare_topology(&publisher, &self.topology, &self.registries).await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *self.link.write().await = Some(Link {
            connection,
            publisher,
        });
        info!("connected to RabbitMQ");
        Ok(())
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.link
            .try_read()
            .map(|link| {
                link.as_ref().is_some_and(|l| {
                    l.connection.status().connected() && l.publisher.status().connected()
                })
            })
            .unwrap_or(true)
    }

    /// Reconnects when the connection is down; returns whether it is up afterwards. Only one
    /// attempt runs at a time and attempts back off (250 ms doubling to 10 s): callers meanwhile
    /// wait for the running attempt, or learn at once that the broker is still away.
    pub async fn ensure_connected(&self) -> bool {
        if self.is_connected() {
            return true;
        }
        use std::sync::atomic::Ordering;
        let mut backoff = self.reconnecting.lock().await;
        if self.is_connected() {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now < backoff.next_attempt {
            return false;
        }
        match self.reconnect().await {
            Ok(()) => {
                *backoff = Backoff::default();
                if self.outage.swap(false, Ordering::SeqCst) {
                    info!("RabbitMQ is back");
                }
                true
            }
            Err(error) => {
                backoff.next_attempt = tokio::time::Instant::now() + backoff.delay;
                backoff.delay = (backoff.delay * 2).min(LONGEST_RETRY);
                if !self.outage.swap(true, Ordering::SeqCst) {
                    warn!(%error, "RabbitMQ unavailable; reconnecting until it is back");
                }
                false
            }
        }
    }

    /// Publishes a persistent message naming the exchange and waits for the broker's confirm,
    /// at most [`CONFIRM_TIMEOUT`]: a broker that stops answering (frozen, partitioned) gets
    /// the submission refused, not a caller that hangs.
    pub async fn publish(
        &self,
        registry: &str,
        exchange_id: uuid::Uuid,
    ) -> Result<(), RabbitError> {
        tokio::time::timeout(
            CONFIRM_TIMEOUT,
            self.publish_confirmed(registry, exchange_id),
        )
        .await
        .map_err(|_| {
            RabbitError::Unavailable(format!(
                "no publisher confirm within {} s",
                CONFIRM_TIMEOUT.as_secs()
            ))
        })?
    }

    async fn publish_confirmed(
        &self,
        registry: &str,
        exchange_id: uuid::Uuid,
    ) -> Result<(), RabbitError> {
        if !self.ensure_connected().await {
            return Err(RabbitError::Unavailable("not connected".into()));
        }
        let guard = self.link.read().await;
        let link = guard
            .as_ref()
            .ok_or_else(|| RabbitError::Unavailable("not connected".into()))?;
        let id = exchange_id.to_string();
        let confirmation = link
            .publisher
            .basic_publish(
                self.topology.exchange().as_str().into(),
                registry.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                id.as_bytes(),
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(id.as_str().into())
                    .with_content_type("text/plain".into()),
            )
            .await?
            .await?;
        match confirmation {
            lapin::Confirmation::Ack(None) => Ok(()),
            _ => Err(RabbitError::Nacked),
        }
    }

    /// A new channel consuming `registry`'s queue with at most `prefetch` unacked messages.
    pub async fn consumer(
        &self,
        registry: &str,
        prefetch: u16,
    ) -> Result<(Channel, lapin::Consumer), RabbitError> {
        if !self.ensure_connected().await {
            return Err(RabbitError::Unavailable("not connected".into()));
        }
        let guard = self.link.read().await;
        let link = guard
            .as_ref()
            .ok_or_else(|| RabbitError::Unavailable("not connected".into()))?;
        let channel = link.connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                self.topology.queue(registry).as_str().into(),
                format!("hub-{registry}-{}", uuid::Uuid::new_v4().simple())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((channel, consumer))
    }

    /// Message counts of the registry queues and the dead-letter queue, for metrics.
    /// Whether the broker answers now: connected, and a round trip (a passive declare of the
    /// dead-letter queue) completes within two seconds. A frozen broker keeps its TCP
    /// connection up, so the connection's flags alone prove nothing.
    pub async fn answers(&self) -> bool {
        if !self.ensure_connected().await {
            return false;
        }
        let round_trip = async {
            let guard = self.link.read().await;
            let Some(link) = guard.as_ref() else {
                return false;
            };
            link.publisher
                .queue_declare(
                    self.topology.dead_queue().as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .is_ok()
        };
        tokio::time::timeout(std::time::Duration::from_secs(2), round_trip)
            .await
            .unwrap_or(false)
    }

    pub async fn depths(&self) -> Vec<(String, u32)> {
        let guard = self.link.read().await;
        let Some(link) = guard.as_ref() else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .registries
            .iter()
            .map(|r| self.topology.queue(r))
            .collect();
        names.push(self.topology.dead_queue());
        let mut depths = Vec::new();
        for name in names {
            let declared = link
                .publisher
                .queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await;
            if let Ok(queue) = declared {
                depths.push((name, queue.message_count()));
            }
        }
        depths
    }
}

async fn declare_topology(
    channel: &Channel,
    topology: &Topology,
    registries: &[String],
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let (exchange, dead_exchange, dead_queue) = (
        topology.exchange(),
        topology.dead_exchange(),
        topology.dead_queue(),
    );
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            dead_exchange.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    let classic = || {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("classic".into()),
        );
        arguments
    };
    channel
        .queue_declare(
            dead_queue.as_str().into(),
            QueueDeclareOptions::durable(),
            classic(),
        )
        .await?;
    channel
        .queue_bind(
            dead_queue.as_str().into(),
            dead_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for registry in registries {
        let mut arguments = classic();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dead_exchange.as_str().into()),
        );
        let queue = topology.queue(registry);
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                registry.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// How long to wait before trying to reconnect.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(500);
