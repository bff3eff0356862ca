//! Delivery of asynchronous exchanges to workers. The store is the source of truth (see
//! `store::queue`); the queue only tells workers there is work (the workers themselves are
//! `exchange::workers`). Two backends share that
//! model: the embedded queue polls the store, RabbitMQ pushes a message per exchange with
//! publisher confirms and manual acks, and a sweeper republishes what is due or was lost.

pub mod rabbit;

pub use rabbit::{CONFIRM_TIMEOUT, Rabbit, RabbitError, Topology};

/// Which queue carries asynchronous exchanges.
#[derive(Clone)]
pub enum QueueBackend {
    /// A durable local queue on the hub's store, for one node.
    Embedded,
    /// RabbitMQ, for production.
    Rabbit(Rabbit),
}

impl QueueBackend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Rabbit(_) => "rabbitmq",
        }
    }

    /// Hands an accepted exchange to the queue. Returns once the queue holds it durably: at
    /// once for the embedded queue (the store row is the queue), after the broker's confirm
    /// for RabbitMQ.
    pub async fn publish(
        &self,
        registry: &str,
        exchange_id: uuid::Uuid,
    ) -> Result<(), RabbitError> {
        match self {
            Self::Embedded => Ok(()),
            Self::Rabbit(rabbit) => rabbit.publish(registry, exchange_id).await,
        }
    }

    /// Whether the queue can take work now.
    pub fn is_connected(&self) -> bool {
        match self {
            Self::Embedded => true,
            Self::Rabbit(rabbit) => rabbit.is_connected(),
        }
    }
}
