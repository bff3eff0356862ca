//! The store's writes of exchanges, queue states and the replay cache. On SQLite one task owns
//! the write connection and commits everything waiting in one transaction, so one fsync
//! serves many callers; each caller is answered only once its commit is durable, and a
//! statement that fails undoes only its own caller's work. On PostgreSQL every call is its own
//! transaction on the pool, which already commits in parallel.

use sqlx::any::AnyConnectOptions;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Executor};
use std::str::FromStr as _;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// At most this many callers share one commit; more wait for the next.
const MAX_GROUP: usize = 256;
/// Callers whose writes wait for the writer at once, beyond which callers wait to be queued.
const QUEUE_DEPTH: usize = 1024;

/// A value bound to a statement, owned so that the statement can wait in the writer's queue.
#[derive(Debug, Clone)]
enum Bound {
    Text(Option<String>),
    Integer(Option<i64>),
}

/// One SQL statement and its arguments (`$1`, `$2`... in order of the `bind` calls).
#[derive(Debug, Clone)]
pub(super) struct Statement {
    sql: std::borrow::Cow<'static, str>,
    arguments: Vec<Bound>,
    /// Changing fewer rows fails the statement's whole transaction with
    /// [`StoreError::Unchanged`].
    must_change: u64,
}

impl Statement {
    pub(super) fn new(sql: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            arguments: Vec::new(),
            must_change: 0,
        }
    }

    /// Makes the statement's transaction fail, undoing everything in it, if it changes no
    /// row: for a write that only makes sense together with the one before it.
    pub(super) fn must_change(self) -> Self {
        self.must_change_rows(1)
    }

    /// Makes the statement's transaction fail, undoing everything in it, if it changes fewer
    /// than `rows` rows.
    pub(super) fn must_change_rows(mut self, rows: u64) -> Self {
        self.must_change = rows;
        self
    }

    pub(super) fn text(mut self, value: impl Into<String>) -> Self {
        self.arguments.push(Bound::Text(Some(value.into())));
        self
    }

    pub(super) fn maybe_text(mut self, value: Option<impl Into<String>>) -> Self {
        self.arguments.push(Bound::Text(value.map(Into::into)));
        self
    }

    pub(super) fn integer(mut self, value: i64) -> Self {
        self.arguments.push(Bound::Integer(Some(value)));
        self
    }

    pub(super) fn maybe_integer(mut self, value: Option<i64>) -> Self {
        self.arguments.push(Bound::Integer(value));
        self
    }

    /// Runs the statement; the number of rows it changed.
    async fn execute<'e>(
        self,
        executor: impl Executor<'e, Database = Any>,
    ) -> Result<u64, StoreError> {
        let must_change = self.must_change;
        let mut query = sqlx::query(&self.sql);
        for argument in self.arguments {
            query = match argument {
                Bound::Text(value) => query.bind(value),
                Bound::Integer(value) => query.bind(value),
            };
        }
        let changed = query.execute(executor).await?.rows_affected();
        if changed < must_change {
            return Err(StoreError::Unchanged);
        }
        Ok(changed)
    }
}

/// Statements that commit together or not at all, and who waits for their outcome.
pub(super) struct Job {
    statements: Vec<Statement>,
    reply: oneshot::Sender<Result<Vec<u64>, StoreError>>,
}

/// Where the store's writes go.
#[derive(Clone)]
pub(super) enum Writer {
    /// PostgreSQL: each call in its own transaction on the pool.
    Direct(AnyPool),
    /// SQLite: the group-commit task.
    Grouped(mpsc::Sender<Job>),
}

impl Writer {
    /// Opens the SQLite write connection (WAL, full sync: a commit survives a power cut) and
    /// starts the task that owns it.
    pub(super) async fn sqlite(url: &str) -> Result<Self, StoreError> {
        let mut connection = AnyConnectOptions::from_str(url)?.connect().await?;
        prepare_sqlite(&mut connection).await?;
        let (sender, jobs) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(group_commit(connection, jobs));
        Ok(Self::Grouped(sender))
    }

    /// Runs one statement; the number of rows it changed.
    pub(super) async fn execute(&self, statement: Statement) -> Result<u64, StoreError> {
        let changed = self.transaction(vec![statement]).await?;
        Ok(changed.first().copied().unwrap_or_default())
    }

    /// Runs `statements` in one transaction, in order; the rows each changed. If one fails,
    /// none of them takes effect.
    pub(super) async fn transaction(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<u64>, StoreError> {
        match self {
            Self::Direct(pool) => {
                if let [_] = statements.as_slice() {
                    let statement = statements.into_iter().next().expect("one statement");
                    return Ok(vec![statement.execute(pool).await?]);
                }
                let mut transaction = pool.begin().await?;
                let mut changed = Vec::with_capacity(statements.len());
                for statement in statements {
                    changed.push(statement.execute(&mut *transaction).await?);
                }
                transaction.commit().await?;
                Ok(changed)
            }
            Self::Grouped(jobs) => {
                let (reply, outcome) = oneshot::channel();
                jobs.send(Job { statements, reply })
                    .await
                    .map_err(|_| StoreError::WriterStopped)?;
                outcome.await.map_err(|_| StoreError::WriterStopped)?
            }
        }
    }
}

/// The pragmas every SQLite connection of the store runs with.
pub(super) async fn prepare_sqlite(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // Write-ahead logging: readers do not wait for the writer, and a commit is one append and
    // one fsync. `synchronous` stays FULL, so a commit the hub acknowledged survives a power
    // cut.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *connection)
        .await?;
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Takes the first job waiting and every other one already queued (up to [`MAX_GROUP`]), and
/// commits them together, until every sender is gone.
async fn group_commit(mut connection: AnyConnection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut connection, group).await;
    }
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "closing the store's write connection failed");
    }
}

/// One transaction for the whole group; each job inside its own savepoint, so that a failing
/// job is rolled back alone and the others still commit.
async fn commit_group(connection: &mut AnyConnection, group: Vec<Job>) {
    if let Err(error) = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        let reason = error.to_string();
        for job in group {
            let _ = job.reply.send(Err(StoreError::Commit(reason.clone())));
        }
        return;
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let outcome = run_in_savepoint(connection, job.statements).await;
        outcomes.push((job.reply, outcome));
    }
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
        let reason = error.to_string();
        if let Err(error) = sqlx::query("ROLLBACK").execute(&mut *connection).await {
            tracing::warn!(%error, "rolling back a failed group commit failed");
        }
        for (reply, _) in outcomes {
            let _ = reply.send(Err(StoreError::Commit(reason.clone())));
        }
        return;
    }
    for (reply, outcome) in outcomes {
        // A caller that stopped waiting has nothing to be told; its work is committed.
        let _ = reply.send(outcome);
    }
}

async fn run_in_savepoint(
    connection: &mut AnyConnection,
    statements: Vec<Statement>,
) -> Result<Vec<u64>, StoreError> {
    sqlx::query("SAVEPOINT job")
        .execute(&mut *connection)
        .await?;
    let mut changed = Vec::with_capacity(statements.len());
    let mut failure: Option<StoreError> = None;
    for statement in statements {
        match statement.execute(&mut *connection).await {
            Ok(rows) => changed.push(rows),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if let Some(error) = failure {
        sqlx::query("ROLLBACK TO job")
            .execute(&mut *connection)
            .await?;
        sqlx::query("RELEASE job").execute(&mut *connection).await?;
        return Err(error);
    }
    sqlx::query("RELEASE job").execute(&mut *connection).await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_writer(dir: &tempfile::TempDir) -> (Writer, AnyPool) {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}/w.db?mode=rwc", dir.path().display());
        let pool = AnyPool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        (Writer::sqlite(&url).await.unwrap(), pool)
    }

    fn insert(key: &str, n: i64) -> Statement {
        Statement::new("INSERT INTO t (k, n) VALUES ($1, $2)")
            .text(key)
            .integer(n)
    }

    #[tokio::test]
    async fn callers_writing_at_once_each_get_their_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool) = sqlite_writer(&dir).await;
        writer.execute(insert("taken", 0)).await.unwrap();

        // 200 callers at once, every fifth one violating the primary key.
        let calls = (0..200).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let key = if i % 5 == 0 {
                    "taken".to_owned()
                } else {
                    format!("k{i}")
                };
                writer.execute(insert(&key, i)).await
            })
        });
        let outcomes = futures_util::future::join_all(calls).await;

        for (i, outcome) in outcomes.into_iter().enumerate() {
            let outcome = outcome.unwrap();
            if i % 5 == 0 {
                assert!(outcome.is_err(), "call {i} should have failed");
            } else {
                assert_eq!(outcome.unwrap(), 1, "call {i}");
            }
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1 + 160);
    }

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_reason() {
        for url in ["sqlite::memory:", "sqlite://hub.db?mode=memory"] {
            let url = secrecy::SecretString::from(url);
            let Err(error) = super::super::Store::connect(&url, 4).await else {
                panic!("an in-memory database was accepted");
            };
            assert!(error.to_string().contains("in-memory SQLite"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_failing_transaction_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool) = sqlite_writer(&dir).await;
        writer.execute(insert("taken", 0)).await.unwrap();

        let outcome = writer
            .transaction(vec![insert("new", 1), insert("taken", 2)])
            .await;

        assert!(outcome.is_err());
        let rows: Vec<(String,)> = sqlx::query_as("SELECT k FROM t ORDER BY k")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows, vec![("taken".to_owned(),)]);
    }
}
