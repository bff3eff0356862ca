//! Storage: one async code path (sqlx `Any`) over SQLite, the embedded default, and
//! PostgreSQL, for production. Migrations are embedded and run at connection.

mod audit;
mod consents;
mod deliveries;
mod events;
mod exchanges;
mod handoffs;
mod inbound;
mod mpi;
mod queue;
mod usage;
mod writer;

pub use audit::{
    ArchivedLeaf, AuditArchive, AuditCheckpoint, AuditEntryRow, AuditHead, AuditNode,
    AuditPlacement, MlogPending, SequencedEntry,
};
pub use consents::ConsentRow;
pub use deliveries::{ClaimedDelivery, DeliveryRow, NewDelivery};
pub use events::{ClaimedEvent, Intake, NewEvent, Parked, ParkedEvent};
pub use exchanges::timestamp;
pub use exchanges::{
    Closing, Direction, ExchangeOutcome, ExchangeRecord, ExchangeStatus, MessageIds, NewExchange,
};
pub use handoffs::{HandoffRow, NewHandoff, Recorded};
pub use inbound::{CaseEventRow, NewCaseEvent, SeenMessage};
pub use mpi::{
    MpiAuditRow, MpiBatch, MpiHistoryRow, MpiNonMatchRow, MpiPersonRow, MpiRecordRow, MpiRelink,
    MpiReviewRow,
};
pub use queue::{ClaimedExchange, DueExchange, Lease, NewAsyncExchange, Submission, now_millis};
pub use usage::{Usage, UsageTotals};

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyPoolOptions, install_default_drivers};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is inconsistent: {0}")]
    Corrupt(String),
    #[error("the group commit failed: {0}")]
    Commit(String),
    #[error("the store's writer has stopped")]
    WriterStopped,
    #[error("a write found nothing to change, so its transaction was undone")]
    Unchanged,
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    writer: writer::Writer,
    backend: Backend,
    /// When expired message ids were last swept (epoch milliseconds).
    last_sweep: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Store {
    /// Connects, creating an SQLite file if needed, and applies pending migrations.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        install_default_drivers();
        let url = url.expose_secret();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "an in-memory SQLite database is not shared by the store's connections and is \
                 lost at exit; give a file, e.g. sqlite://hub.db?mode=rwc"
                    .into(),
            )));
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5));
        if backend == Backend::Sqlite {
            options = options.after_connect(|connection, _| {
                Box::pin(async move { writer::prepare_sqlite(connection).await })
            });
        }
        let pool = options.connect(url).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let writer = match backend {
            Backend::Sqlite => writer::Writer::sqlite(url).await?,
            Backend::Postgres => writer::Writer::Direct(pool.clone()),
        };
        Ok(Self {
            pool,
            writer,
            backend,
            last_sweep: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}
