//! The store's writes of exchanges, queue states and the replay cache. On SQLite one thread
//! owns the write connection and commits everything waiting in one transaction, so one fsync
//! serves many callers and no statement is handed to another thread; each caller is answered
//! only once its commit is durable, and a statement that fails undoes only its own caller's
//! work. On PostgreSQL every call is its own transaction on the pool, which already commits in
//! parallel. On both, a statement that may wait for the next sync (a worker's lease) commits
//! without one of its own.

use sqlx::{Any, AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// At most this many callers share one commit; more wait for the next.
const MAX_GROUP: usize = 256;
/// Callers whose writes wait for the writer at once, beyond which callers wait to be queued.
const QUEUE_DEPTH: usize = 1024;
/// How long the write connection waits for a lock another connection holds (migrations, the
/// master index's own writes) before its commit fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Prepared statements the write connection keeps (statements differ by shape, not by value).
const PREPARED_STATEMENTS: usize = 128;

/// A value bound to a statement, owned so that the statement can wait in the writer's queue,
/// or returned by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Text(Option<String>),
    Integer(Option<i64>),
}

impl Value {
    /// The text, if this is a text that is not NULL.
    pub(super) fn into_text(self) -> Option<String> {
        match self {
            Self::Text(text) => text,
            Self::Integer(_) => None,
        }
    }

    /// The number, if this is an integer that is not NULL.
    pub(super) fn into_integer(self) -> Option<i64> {
        match self {
            Self::Integer(number) => number,
            Self::Text(_) => None,
        }
    }
}

/// What a column of a statement's `RETURNING` rows holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Integer,
}

/// One returned row, its values in the order of the `RETURNING` columns.
pub(super) type Row = Vec<Value>;

/// What one statement did: the rows it changed, and the rows it returned.
#[derive(Debug, Default)]
pub(super) struct Done {
    pub(super) changed: u64,
    pub(super) rows: Vec<Row>,
}

impl Done {
    /// A statement that returned `rows`, one for each row it changed.
    fn returned(rows: Vec<Row>) -> Self {
        Self {
            changed: rows.len() as u64,
            rows,
        }
    }

    /// Itself, or [`StoreError::Unchanged`] if fewer than `must_change` rows changed.
    fn at_least(self, must_change: u64) -> Result<Self, StoreError> {
        if self.changed < must_change {
            return Err(StoreError::Unchanged);
        }
        Ok(self)
    }
}

/// One SQL statement and its arguments (`$1`, `$2`... in order of the `bind` calls).
#[derive(Debug, Clone)]
pub(super) struct Statement {
    sql: std::borrow::Cow<'static, str>,
    arguments: Vec<Value>,
    /// Changing fewer rows fails the statement's whole transaction with
    /// [`StoreError::Unchanged`].
    must_change: u64,
    /// The kinds of the columns of its `RETURNING` clause, if it has one.
    returns: &'static [Kind],
    /// Whether its commit must reach the disk before its caller is answered.
    durability: Durability,
}

/// When a write must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Before its caller is answered: it survives a power cut once acknowledged.
    Immediate,
    /// With the next commit that syncs. It still survives a crash of the hub (the operating
    /// system holds it); a power cut or a crash of the system itself may undo it, and with it
    /// nothing but itself, since later commits sync everything written before them. For a
    /// worker's lease on an exchange: after such a crash no lease is held anyway.
    WithNextSync,
}

impl Statement {
    pub(super) fn new(sql: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            arguments: Vec::new(),
            must_change: 0,
            returns: &[],
            durability: Durability::Immediate,
        }
    }

    /// The statement's commit may reach the disk with the next commit that syncs
    /// ([`Durability::WithNextSync`]) instead of before its caller is answered.
    pub(super) fn durable_with_next_sync(mut self) -> Self {
        self.durability = Durability::WithNextSync;
        self
    }

    /// The statement returns rows (`RETURNING`), whose columns are of these kinds.
    pub(super) fn returning(mut self, columns: &'static [Kind]) -> Self {
        self.returns = columns;
        self
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
        self.arguments.push(Value::Text(Some(value.into())));
        self
    }

    pub(super) fn maybe_text(mut self, value: Option<impl Into<String>>) -> Self {
        self.arguments.push(Value::Text(value.map(Into::into)));
        self
    }

    pub(super) fn integer(mut self, value: i64) -> Self {
        self.arguments.push(Value::Integer(Some(value)));
        self
    }

    pub(super) fn maybe_integer(mut self, value: Option<i64>) -> Self {
        self.arguments.push(Value::Integer(value));
        self
    }

    /// Runs the statement; what it did.
    async fn execute<'e>(
        self,
        executor: impl Executor<'e, Database = Any>,
    ) -> Result<Done, StoreError> {
        use sqlx::Row as _;
        let mut query = sqlx::query(&self.sql);
        for argument in self.arguments {
            query = match argument {
                Value::Text(value) => query.bind(value),
                Value::Integer(value) => query.bind(value),
            };
        }
        let done = if self.returns.is_empty() {
            Done {
                changed: query.execute(executor).await?.rows_affected(),
                rows: Vec::new(),
            }
        } else {
            let rows = query
                .fetch_all(executor)
                .await?
                .iter()
                .map(|row| {
                    self.returns
                        .iter()
                        .enumerate()
                        .map(|(column, kind)| match kind {
                            Kind::Text => row.try_get(column).map(Value::Text),
                            Kind::Integer => row.try_get(column).map(Value::Integer),
                        })
                        .collect::<Result<Row, _>>()
                })
                .collect::<Result<Vec<Row>, _>>()?;
            Done::returned(rows)
        };
        done.at_least(self.must_change)
    }

    /// Runs the statement on the SQLite write connection; what it did. `$n` placeholders are
    /// SQLite's named parameters: each is bound to the n-th argument, wherever it first
    /// appears.
    fn execute_on(&self, connection: &rusqlite::Connection) -> Result<Done, StoreError> {
        let mut prepared = connection.prepare_cached(&self.sql)?;
        for index in 1..=prepared.parameter_count() {
            let position = prepared
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|number| number.parse::<usize>().ok())
                .unwrap_or(index);
            let argument = self
                .arguments
                .get(position.wrapping_sub(1))
                .ok_or_else(|| {
                    StoreError::Commit(format!("a statement has no argument ${position}"))
                })?;
            match argument {
                Value::Text(value) => prepared.raw_bind_parameter(index, value)?,
                Value::Integer(value) => prepared.raw_bind_parameter(index, value)?,
            }
        }
        let done = if self.returns.is_empty() {
            Done {
                changed: prepared.raw_execute()? as u64,
                rows: Vec::new(),
            }
        } else {
            let mut rows = Vec::new();
            let mut returned = prepared.raw_query();
            while let Some(row) = returned.next()? {
                let mut values = Vec::with_capacity(self.returns.len());
                for (column, kind) in self.returns.iter().enumerate() {
                    values.push(match kind {
                        Kind::Text => Value::Text(row.get(column)?),
                        Kind::Integer => Value::Integer(row.get(column)?),
                    });
                }
                rows.push(values);
            }
            Done::returned(rows)
        };
        done.at_least(self.must_change)
    }
}

/// Statements that commit together or not at all, and who waits for their outcome.
pub(super) struct Job {
    statements: Vec<Statement>,
    reply: oneshot::Sender<Result<Vec<Done>, StoreError>>,
}

/// Where the store's writes go.
#[derive(Clone)]
pub(super) enum Writer {
    /// PostgreSQL: each call in its own transaction on the pool, synchronous unless all of its
    /// statements may wait for the next sync.
    Direct(AnyPool),
    /// SQLite: the group-commit thread.
    Grouped(mpsc::Sender<Job>),
}

impl Writer {
    /// Opens the SQLite write connection (WAL, full sync: a commit survives a power cut) on
    /// the file the pool at `url` opened, and starts the thread that owns it.
    pub(super) async fn sqlite(url: &str) -> Result<Self, StoreError> {
        let path = sqlite_file(url)?;
        let (sender, jobs) = mpsc::channel(QUEUE_DEPTH);
        let (opened, is_open) = oneshot::channel();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || match open_write_connection(&path) {
                Ok(connection) => {
                    let _ = opened.send(Ok(()));
                    group_commit(connection, jobs);
                }
                Err(error) => {
                    let _ = opened.send(Err(error));
                }
            })
            .map_err(|error| StoreError::Commit(format!("cannot start the writer: {error}")))?;
        is_open.await.map_err(|_| StoreError::WriterStopped)??;
        Ok(Self::Grouped(sender))
    }

    /// Runs one statement; the number of rows it changed.
    pub(super) async fn execute(&self, statement: Statement) -> Result<u64, StoreError> {
        let changed = self.transaction(vec![statement]).await?;
        Ok(changed.first().copied().unwrap_or_default())
    }

    /// Runs one statement with a `RETURNING` clause ([`Statement::returning`]); the rows it
    /// returned.
    pub(super) async fn fetch(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        let done = self.run(vec![statement]).await?;
        Ok(done
            .into_iter()
            .next()
            .map(|done| done.rows)
            .unwrap_or_default())
    }

    /// Runs `statements` in one transaction, in order; the rows each changed. If one fails,
    /// none of them takes effect.
    pub(super) async fn transaction(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<u64>, StoreError> {
        let done = self.run(statements).await?;
        Ok(done.into_iter().map(|done| done.changed).collect())
    }

    async fn run(&self, statements: Vec<Statement>) -> Result<Vec<Done>, StoreError> {
        match self {
            Self::Direct(pool) => {
                let with_next_sync = statements
                    .iter()
                    .all(|statement| statement.durability == Durability::WithNextSync);
                if let [_] = statements.as_slice()
                    && !with_next_sync
                {
                    let statement = statements.into_iter().next().expect("one statement");
                    return Ok(vec![statement.execute(pool).await?]);
                }
                let mut transaction = pool.begin().await?;
                if with_next_sync {
                    // PostgreSQL's form of the same promise: the commit returns before its WAL
                    // record is flushed, and the next synchronous commit flushes it with its own.
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut *transaction)
                        .await?;
                }
                let mut done = Vec::with_capacity(statements.len());
                for statement in statements {
                    done.push(statement.execute(&mut *transaction).await?);
                }
                transaction.commit().await?;
                Ok(done)
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
    // Pages are read through a memory map rather than copied by a system call each.
    sqlx::query(MMAP).execute(&mut *connection).await?;
    Ok(())
}

/// Size of the memory map SQLite reads the database file through (256 MiB).
pub(super) const MMAP: &str = "PRAGMA mmap_size = 268435456";
/// The write connection's page cache (64 MiB): the queue's and the events' claims scan their
/// tables' open rows on it, which a small cache would read again and again.
const WRITER_CACHE: &str = "PRAGMA cache_size = -65536";
/// Pages the write-ahead log grows to before the writer copies them into the database file
/// (SQLite's default is 1,000). A page every exchange changes (the tail of a table or an
/// index) is copied once per checkpoint, so fewer checkpoints copy it fewer times; the log
/// stays under about 40 MiB.
const CHECKPOINT_EVERY: &str = "PRAGMA wal_autocheckpoint = 10000";

/// The database file of an SQLite address (`sqlite://hub.db?mode=rwc`, `sqlite:///var/hub.db`,
/// `sqlite:hub.db`); the pool has created it by the time the writer opens it.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Commit("the store's address is not an SQLite one".into()))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() {
        return Err(StoreError::Commit(
            "the store's SQLite address names no file".into(),
        ));
    }
    Ok(std::path::PathBuf::from(path))
}

/// The write connection, with the pragmas of [`prepare_sqlite`] and the ones sqlx sets on the
/// pool's connections (foreign keys enforced, a busy timeout).
fn open_write_connection(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    connection.execute_batch(&format!("{MMAP}; {WRITER_CACHE}; {CHECKPOINT_EVERY};"))?;
    Ok(connection)
}

/// Takes the first job waiting and every other one already queued (up to [`MAX_GROUP`]), and
/// commits them together, until every sender is gone.
fn group_commit(connection: rusqlite::Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut synchronous = Durability::Immediate;
    while let Some(first) = jobs.blocking_recv() {
        // Let the threads that are ready to run go first: under load they are callers about
        // to hand in their writes, which then share this commit and its fsync. With nothing
        // else to run, this returns at once.
        std::thread::yield_now();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // A group of writes that may wait for the next sync commits without one: in WAL mode
        // `synchronous = NORMAL` appends to the log and leaves the fsync to the next commit
        // under FULL, which makes everything before it durable too.
        let needed = if group.iter().all(|job| {
            job.statements
                .iter()
                .all(|statement| statement.durability == Durability::WithNextSync)
        }) {
            Durability::WithNextSync
        } else {
            Durability::Immediate
        };
        if needed != synchronous {
            let pragma = match needed {
                Durability::Immediate => "PRAGMA synchronous = FULL",
                Durability::WithNextSync => "PRAGMA synchronous = NORMAL",
            };
            match connection.execute_batch(pragma) {
                Ok(()) => synchronous = needed,
                // Committing without the sync a write needs would acknowledge it too early.
                Err(error) if needed == Durability::Immediate => {
                    let reason = format!("cannot make the commit sync: {error}");
                    for job in group {
                        let _ = job.reply.send(Err(StoreError::Commit(reason.clone())));
                    }
                    continue;
                }
                // Syncing a write that could have waited costs time, not safety.
                Err(error) => tracing::warn!(%error, "cannot leave the sync to the next commit"),
            }
        }
        commit_group(&connection, group);
    }
    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "closing the store's write connection failed");
    }
}

/// One transaction for the whole group. The jobs run one after another with no savepoint,
/// since inside a savepoint SQLite copies every page it changes into a statement journal
/// first. If a job fails, the transaction is rolled back and the group runs again with each
/// job in its own savepoint, so that the failing job is undone alone and the others commit.
fn commit_group(connection: &rusqlite::Connection, group: Vec<Job>) {
    let isolation = if group.len() == 1 {
        // A lone job's failure rolls back the whole transaction, which is the job's own.
        Isolation::Transaction
    } else {
        Isolation::Optimistic
    };
    let outcomes = match run_group(connection, &group, isolation) {
        Err(GroupFailed::JobFailed) => run_group(connection, &group, Isolation::Savepoints),
        other => other,
    };
    match outcomes {
        Ok(outcomes) => {
            for (job, outcome) in group.into_iter().zip(outcomes) {
                // A caller that stopped waiting has nothing to be told; its work is committed.
                let _ = job.reply.send(outcome);
            }
        }
        Err(failure) => {
            let reason = match failure {
                GroupFailed::Commit(reason) => reason,
                GroupFailed::JobFailed => "a grouped write failed".to_owned(),
            };
            for job in group {
                let _ = job.reply.send(Err(StoreError::Commit(reason.clone())));
            }
        }
    }
}

/// How the jobs of a group are kept apart inside its transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// One job: its failure is the transaction's, which is rolled back.
    Transaction,
    /// No savepoints; any job failing rolls back the transaction for a run with savepoints.
    Optimistic,
    /// Each job in its own savepoint: a failing job is undone alone.
    Savepoints,
}

/// Why a group's transaction did not commit.
enum GroupFailed {
    /// A job failed under [`Isolation::Optimistic`]; nothing was kept.
    JobFailed,
    /// Beginning or committing the transaction failed; nothing was kept.
    Commit(String),
}

type Outcome = Result<Vec<Done>, StoreError>;

/// Runs the group's jobs in one transaction and commits it; each job's outcome.
fn run_group(
    connection: &rusqlite::Connection,
    group: &[Job],
    isolation: Isolation,
) -> Result<Vec<Outcome>, GroupFailed> {
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|error| GroupFailed::Commit(error.to_string()))?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let outcome = match isolation {
            Isolation::Savepoints => run_in_savepoint(connection, &job.statements),
            Isolation::Transaction | Isolation::Optimistic => run_all(connection, &job.statements),
        };
        if outcome.is_err() && isolation != Isolation::Savepoints {
            if let Err(error) = connection.execute_batch("ROLLBACK") {
                tracing::warn!(%error, "rolling back a failed group failed");
            }
            if isolation == Isolation::Optimistic {
                return Err(GroupFailed::JobFailed);
            }
            return Ok(vec![outcome]);
        }
        outcomes.push(outcome);
    }
    if let Err(error) = connection.execute_batch("COMMIT") {
        if let Err(error) = connection.execute_batch("ROLLBACK") {
            tracing::warn!(%error, "rolling back a failed group commit failed");
        }
        return Err(GroupFailed::Commit(error.to_string()));
    }
    Ok(outcomes)
}

fn run_all(connection: &rusqlite::Connection, statements: &[Statement]) -> Outcome {
    statements
        .iter()
        .map(|statement| statement.execute_on(connection))
        .collect()
}

fn run_in_savepoint(connection: &rusqlite::Connection, statements: &[Statement]) -> Outcome {
    connection.execute_batch("SAVEPOINT job")?;
    match run_all(connection, statements) {
        Ok(done) => {
            connection.execute_batch("RELEASE job")?;
            Ok(done)
        }
        Err(error) => {
            connection.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(error)
        }
    }
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
    async fn a_failing_job_in_a_group_undoes_only_its_own_statements() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool) = sqlite_writer(&dir).await;
        writer.execute(insert("taken", 0)).await.unwrap();

        // 100 callers at once, each writing two rows; every fourth one's second row collides,
        // after its first row was written in the shared transaction.
        let calls = (0..100).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let second = if i % 4 == 0 {
                    "taken".to_owned()
                } else {
                    format!("b{i}")
                };
                writer
                    .transaction(vec![insert(&format!("a{i}"), i), insert(&second, i)])
                    .await
            })
        });
        let outcomes = futures_util::future::join_all(calls).await;

        for (i, outcome) in outcomes.into_iter().enumerate() {
            assert_eq!(outcome.unwrap().is_err(), i % 4 == 0, "call {i}");
        }
        let keys: Vec<(String,)> = sqlx::query_as("SELECT k FROM t")
            .fetch_all(&pool)
            .await
            .unwrap();
        let keys: std::collections::HashSet<String> = keys.into_iter().map(|(k,)| k).collect();
        assert_eq!(keys.len(), 1 + 2 * 75);
        for i in 0..100 {
            assert_eq!(keys.contains(&format!("a{i}")), i % 4 != 0, "row a{i}");
        }
    }

    #[tokio::test]
    async fn writes_that_wait_for_the_next_sync_commit_between_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool) = sqlite_writer(&dir).await;
        let calls = (0..60).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let statement = insert(&format!("k{i}"), i);
                let statement = if i % 3 == 0 {
                    statement
                } else {
                    statement.durable_with_next_sync()
                };
                writer.execute(statement).await
            })
        });
        for outcome in futures_util::future::join_all(calls).await {
            assert_eq!(outcome.unwrap().unwrap(), 1);
        }
        writer
            .execute(insert("last", 0).durable_with_next_sync())
            .await
            .unwrap();

        // Another connection sees every write, in the file.
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 61);
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
    async fn placeholders_bind_by_their_number_wherever_they_appear() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool) = sqlite_writer(&dir).await;
        let statement = Statement::new("INSERT INTO t (n, k) VALUES ($2, $1)")
            .text("late")
            .integer(7);
        writer.execute(statement).await.unwrap();
        let bump = Statement::new("UPDATE t SET n = n + $1 WHERE k = $2 AND n < $1 + 10")
            .integer(3)
            .text("late");
        assert_eq!(writer.execute(bump).await.unwrap(), 1);

        let row: (String, i64) = sqlx::query_as("SELECT k, n FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row, ("late".to_owned(), 10));
    }

    #[tokio::test]
    async fn a_returning_statement_gives_the_rows_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _pool) = sqlite_writer(&dir).await;
        for (key, n) in [("a", 1), ("b", 5), ("c", 9)] {
            writer.execute(insert(key, n)).await.unwrap();
        }
        let bump = || {
            Statement::new("UPDATE t SET n = n + 10 WHERE n < $1 RETURNING k, n")
                .integer(6)
                .returning(&[Kind::Text, Kind::Integer])
        };

        let mut rows = writer.fetch(bump()).await.unwrap();
        rows.sort_by_key(|row| row[0].clone().into_text());
        let again = writer.fetch(bump().must_change()).await;

        assert_eq!(
            rows,
            vec![
                vec![Value::Text(Some("a".into())), Value::Integer(Some(11))],
                vec![Value::Text(Some("b".into())), Value::Integer(Some(15))],
            ]
        );
        assert!(
            matches!(again, Err(StoreError::Unchanged)),
            "nothing left to change: {again:?}"
        );
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
