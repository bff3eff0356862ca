//! The audit log's rows: entries written in the same transaction as what they record, their
//! place in the log (sequence number, digest, seal), the log's head and its signed
//! checkpoints. The hub's `audit` module decides what goes in them; this is only their storage.

use sqlx::Row;

use super::writer::Statement;
use super::{Store, StoreError};

/// What an audit entry records, as stored. Persons appear only as keyed digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntryRow {
    pub entry_id: String,
    /// `exchange.outbound`, `exchange.inbound`...
    pub kind: String,
    pub recorded_at: String,
    pub exchange_id: Option<String>,
    pub client_id: Option<String>,
    pub service: Option<String>,
    pub legal_basis: Option<String>,
    pub reason: Option<String>,
    pub case_id: Option<String>,
    pub calling_user_digest: Option<String>,
    pub subject_digest: Option<String>,
    /// The master-index person the entry is about, when it names one.
    pub person_id: Option<String>,
    /// `completed` or `failed` for exchanges; `ok` or `refused` for master-index actions.
    pub outcome: String,
    pub error_code: Option<String>,
    /// JSON array text of the fields released.
    pub fields_released: Option<String>,
    pub request_digest: Option<String>,
    pub response_digest: Option<String>,
}

/// An entry with its place in the log.
#[derive(Debug, Clone)]
pub struct SequencedEntry {
    pub seq: i64,
    pub row: AuditEntryRow,
    /// Hex SHA-256 of the entry's canonical form, as computed when it was placed.
    pub entry_digest: String,
    /// Hex keyed seal over the sequence number and the digest.
    pub seal: String,
    pub seal_key_id: String,
}

/// The place the hub gives a pending entry.
#[derive(Debug, Clone)]
pub struct AuditPlacement {
    pub entry_id: String,
    pub seq: i64,
    pub entry_digest: String,
    pub seal: String,
    pub seal_key_id: String,
}

/// The root of a complete subtree of the log's tree: the one at `level` (2^level leaves)
/// whose leaves start at `index << level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNode {
    pub level: i64,
    pub index: i64,
    /// Hex SHA-256.
    pub hash: String,
}

fn node_of(row: &sqlx::any::AnyRow) -> Result<AuditNode, StoreError> {
    Ok(AuditNode {
        level: row.try_get("level")?,
        index: row.try_get("idx")?,
        hash: row.try_get("hash")?,
    })
}

/// How far the log is sequenced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditHead {
    pub size: i64,
    /// Hex roots of the tree's complete subtrees, largest first, comma-separated.
    pub frontier: String,
}

/// A signed checkpoint: the note (origin, size, root, time) and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub size: i64,
    pub note: String,
    /// Base64 signature over the note.
    pub signature: String,
}

const ENTRY_COLUMNS: &str = "entry_id, kind, recorded_at, exchange_id, client_id, service, \
    legal_basis, reason, case_id, calling_user_digest, subject_digest, person_id, outcome, \
    error_code, fields_released, request_digest, response_digest";

fn entry_of(row: &sqlx::any::AnyRow) -> Result<AuditEntryRow, StoreError> {
    Ok(AuditEntryRow {
        entry_id: row.try_get("entry_id")?,
        kind: row.try_get("kind")?,
        recorded_at: row.try_get("recorded_at")?,
        exchange_id: row.try_get("exchange_id")?,
        client_id: row.try_get("client_id")?,
        service: row.try_get("service")?,
        legal_basis: row.try_get("legal_basis")?,
        reason: row.try_get("reason")?,
        case_id: row.try_get("case_id")?,
        calling_user_digest: row.try_get("calling_user_digest")?,
        subject_digest: row.try_get("subject_digest")?,
        person_id: row.try_get("person_id")?,
        outcome: row.try_get("outcome")?,
        error_code: row.try_get("error_code")?,
        fields_released: row.try_get("fields_released")?,
        request_digest: row.try_get("request_digest")?,
        response_digest: row.try_get("response_digest")?,
    })
}

fn sequenced_of(row: &sqlx::any::AnyRow) -> Result<SequencedEntry, StoreError> {
    let placed = |column: &str| -> Result<String, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("a sequenced audit entry has no {column}")))
    };
    Ok(SequencedEntry {
        seq: row.try_get("seq")?,
        row: entry_of(row)?,
        entry_digest: placed("entry_digest")?,
        seal: placed("seal")?,
        seal_key_id: placed("seal_key_id")?,
    })
}

/// What the statement that ends an exchange writes into the columns its audit entry copies:
/// `Some(value)` (NULL included) or `None`, the row keeps its own.
pub(super) struct Ending<'a> {
    pub completed_at: &'a str,
    pub status: &'a str,
    pub error_code: Option<&'a str>,
    pub fields_released: Option<Option<&'a str>>,
    pub request_digest: Option<Option<&'a str>>,
    pub response_digest: Option<Option<&'a str>>,
}

/// The statements that end an exchange: its audit entry, made from the row while it is still in
/// progress and from what `close` writes (`ending`), taking over the row's sealed identifiers;
/// then `close`, the update to its terminal state, which must change the row and clear those
/// identifiers. Two statements, one transaction: the exchange is either in progress with no
/// entry or ended with one.
pub(super) fn closed_with_entry(
    close: Statement,
    exchange_id: uuid::Uuid,
    ending: &Ending<'_>,
) -> Vec<Statement> {
    // Each column `close` writes is a placeholder; the others are the row's.
    let mut values = Vec::new();
    let mut column = |name: &str, value: Option<Option<&str>>| match value {
        Some(value) => {
            values.push(value.map(str::to_string));
            format!("${}", 4 + values.len())
        }
        None => name.to_string(),
    };
    let fields_released = column("fields_released", ending.fields_released);
    let request_digest = column("request_digest", ending.request_digest);
    let response_digest = column("response_digest", ending.response_digest);
    let mut entry = Statement::new(format!(
        "INSERT INTO audit_log ({ENTRY_COLUMNS}, sealed_identifiers) \
         SELECT id, 'exchange.' || direction, $2, id, client_id, service, legal_basis, reason, \
         case_id, calling_user_digest, subject_digest, NULL, $3, $4, {fields_released}, \
         {request_digest}, {response_digest}, sealed_identifiers \
         FROM exchanges WHERE id = $1 AND status = 'in_progress'"
    ))
    .text(exchange_id.to_string())
    .text(ending.completed_at)
    .text(ending.status)
    .maybe_text(ending.error_code);
    for value in values {
        entry = entry.maybe_text(value);
    }
    vec![entry.must_change(), close]
}

/// The audit entries of every synchronous exchange a previous process left in progress, which
/// the statement after this one fails as interrupted.
pub(super) fn interrupted_exchanges_entries(completed_at: &str) -> Statement {
    Statement::new(format!(
        "INSERT INTO audit_log ({ENTRY_COLUMNS}, sealed_identifiers) \
         SELECT id, 'exchange.' || direction, $1, id, client_id, service, legal_basis, reason, \
         case_id, calling_user_digest, subject_digest, NULL, 'failed', 'hub.interrupted', NULL, \
         request_digest, response_digest, sealed_identifiers \
         FROM exchanges WHERE status = 'in_progress' AND mode = 'sync'"
    ))
    .text(completed_at)
}

/// Entries placed by one statement, at most: one statement per entry made a batch cost as many
/// round trips to the writer; one for the whole batch makes each row's CASE long.
const PLACEMENTS_PER_STATEMENT: usize = 64;

/// One UPDATE placing every entry of `chunk`, which must change as many rows. The entries are
/// found by their ids: the unary plus in `+seq IS NULL` keeps SQLite from searching the seq
/// index instead, where every pending entry is a NULL.
fn placed(chunk: &[AuditPlacement]) -> Statement {
    let case = |value: usize| {
        let branches: String = (0..chunk.len())
            .map(|i| format!(" WHEN ${} THEN ${}", 5 * i + 1, 5 * i + value))
            .collect();
        format!("CASE entry_id{branches} END")
    };
    let ids = (0..chunk.len())
        .map(|i| format!("${}", 5 * i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = Statement::new(format!(
        "UPDATE audit_log SET seq = {}, entry_digest = {}, seal = {}, seal_key_id = {} \
         WHERE entry_id IN ({ids}) AND +seq IS NULL",
        case(2),
        case(3),
        case(4),
        case(5)
    ));
    for placement in chunk {
        statement = statement
            .text(&placement.entry_id)
            .integer(placement.seq)
            .text(&placement.entry_digest)
            .text(&placement.seal)
            .text(&placement.seal_key_id);
    }
    statement.must_change_rows(chunk.len() as u64)
}

impl Store {
    /// Entries not yet placed in the log, at most `limit`. In no particular order: the order
    /// they are placed in is the log's, and sorting a long backlog for every batch would cost
    /// its square.
    pub async fn pending_audit_entries(
        &self,
        limit: i64,
    ) -> Result<Vec<AuditEntryRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE seq IS NULL LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// Number of entries waiting for their place.
    pub async fn pending_audit_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE seq IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let row = sqlx::query("SELECT size, frontier FROM audit_head WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(AuditHead {
            size: row.try_get("size")?,
            frontier: row.try_get("frontier")?,
        })
    }

    /// Places entries in the log, keeps the subtree roots they complete and moves its head from
    /// `from` to `to`, all or nothing. `false`, changing nothing, when the head is no longer at
    /// `from` (another instance of the hub placed entries first) or an entry was placed already.
    pub async fn place_audit_entries(
        &self,
        from: &AuditHead,
        to: &AuditHead,
        placements: &[AuditPlacement],
        completed: &[AuditNode],
    ) -> Result<bool, StoreError> {
        let mut statements = Vec::with_capacity(placements.len() + completed.len() + 1);
        statements.push(
            Statement::new(
                "UPDATE audit_head SET size = $1, frontier = $2 \
                 WHERE id = 1 AND size = $3 AND frontier = $4",
            )
            .integer(to.size)
            .text(&to.frontier)
            .integer(from.size)
            .text(&from.frontier)
            .must_change(),
        );
        // Chunks of 64, then of the powers of two the rest is made of: few distinct statements,
        // so that they stay in the connection's statement cache.
        let mut rest = placements;
        while !rest.is_empty() {
            let width = PLACEMENTS_PER_STATEMENT.min(1 << rest.len().ilog2());
            let (chunk, after) = rest.split_at(width);
            statements.push(placed(chunk));
            rest = after;
        }
        for node in completed {
            statements.push(
                Statement::new("INSERT INTO audit_nodes (level, idx, hash) VALUES ($1, $2, $3)")
                    .integer(node.level)
                    .integer(node.index)
                    .text(&node.hash),
            );
        }
        match self.writer.transaction(statements).await {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Sequenced entries from `from_seq` on, in order, at most `limit`.
    pub async fn audit_entries(
        &self,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<SequencedEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, seq, entry_digest, seal, seal_key_id FROM audit_log \
             WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(from_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(sequenced_of).collect()
    }

    /// One entry by its id, with its place if it has one.
    pub async fn audit_entry(
        &self,
        entry_id: &str,
    ) -> Result<Option<(AuditEntryRow, Option<i64>)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, seq FROM audit_log WHERE entry_id = $1"
        ))
        .bind(entry_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((entry_of(&row)?, row.try_get("seq")?)))
            .transpose()
    }

    /// The stored digests (hex) of the entries in `[from_seq, to_seq)`, archived ones included,
    /// in order; a missing entry is missing from the list.
    pub async fn audit_digests(
        &self,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, entry_digest FROM audit_leaves WHERE seq >= $1 AND seq < $2 \
             UNION ALL \
             SELECT seq, entry_digest FROM audit_log WHERE seq >= $1 AND seq < $2 \
             ORDER BY seq",
        )
        .bind(from_seq)
        .bind(to_seq)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let digest: Option<String> = row.try_get("entry_digest")?;
                let digest = digest.ok_or_else(|| {
                    StoreError::Corrupt("a sequenced audit entry has no digest".into())
                })?;
                Ok((row.try_get("seq")?, digest))
            })
            .collect()
    }

    /// The stored subtree roots among `(level, index)` keys; absent ones are left out.
    pub async fn audit_nodes(&self, keys: &[(i64, i64)]) -> Result<Vec<AuditNode>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = (0..keys.len())
            .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("SELECT level, idx, hash FROM audit_nodes WHERE {wanted}");
        let mut query = sqlx::query(&sql);
        for (level, index) in keys {
            query = query.bind(*level).bind(*index);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(node_of).collect()
    }

    /// Stored subtree roots after `after` in (level, index) order, at most `limit`.
    pub async fn audit_nodes_page(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<AuditNode>, StoreError> {
        let rows = sqlx::query(
            "SELECT level, idx, hash FROM audit_nodes \
             WHERE level > $1 OR (level = $1 AND idx > $2) ORDER BY level, idx LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(node_of).collect()
    }

    /// Keeps a signed checkpoint; one per tree size.
    pub async fn record_audit_checkpoint(
        &self,
        checkpoint: &AuditCheckpoint,
    ) -> Result<(), StoreError> {
        self.writer
            .execute(
                Statement::new(
                    "INSERT INTO audit_checkpoints (size, note, signature) VALUES ($1, $2, $3) \
                     ON CONFLICT (size) DO NOTHING",
                )
                .integer(checkpoint.size)
                .text(&checkpoint.note)
                .text(&checkpoint.signature),
            )
            .await?;
        Ok(())
    }

    /// Every checkpoint, smallest tree first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let rows = sqlx::query("SELECT size, note, signature FROM audit_checkpoints ORDER BY size")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditCheckpoint {
                    size: row.try_get("size")?,
                    note: row.try_get("note")?,
                    signature: row.try_get("signature")?,
                })
            })
            .collect()
    }
}

/// An entry on its way to MLog, with the identifiers MLog is entitled to, sealed.
#[derive(Debug, Clone)]
pub struct MlogPending {
    pub entry: SequencedEntry,
    pub sealed_identifiers: Option<String>,
}

impl Store {
    /// How many entries MLog has acknowledged: the next to deliver is this sequence number.
    pub async fn mlog_delivered(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT delivered FROM mlog_delivery WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("delivered")?)
    }

    /// The next entries to deliver to MLog, in order, at most `limit`.
    pub async fn mlog_pending(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<MlogPending>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, seq, entry_digest, seal, seal_key_id, sealed_identifiers \
             FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(from)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MlogPending {
                    entry: sequenced_of(row)?,
                    sealed_identifiers: row.try_get("sealed_identifiers")?,
                })
            })
            .collect()
    }

    /// Records that MLog acknowledged the entries from `from` up to (not including) `to`, and
    /// erases their sealed identifiers. `false`, changing nothing, if the position was no
    /// longer `from` (another instance delivered them).
    pub async fn mlog_acknowledged(&self, from: i64, to: i64) -> Result<bool, StoreError> {
        let outcome = self
            .writer
            .transaction(vec![
                Statement::new(
                    "UPDATE mlog_delivery SET delivered = $1 WHERE id = 1 AND delivered = $2",
                )
                .integer(to)
                .integer(from)
                .must_change(),
                Statement::new(
                    "UPDATE audit_log SET sealed_identifiers = NULL WHERE seq >= $1 AND seq < $2",
                )
                .integer(from)
                .integer(to),
            ])
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

impl Store {
    /// Placed entries about a person (by master-index id or by the keyed digests of their
    /// identifiers), recorded in `[from, to)` (RFC 3339), after sequence number `after`, in
    /// log order, at most `limit`.
    pub async fn audit_entries_about(
        &self,
        person_id: Option<&str>,
        subject_digests: &[String],
        from: &str,
        to: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SequencedEntry>, StoreError> {
        let digests = (0..subject_digests.len())
            .map(|i| format!("${}", i + 6))
            .collect::<Vec<_>>();
        let about = if digests.is_empty() {
            "person_id = $5".to_string()
        } else {
            format!(
                "(person_id = $5 OR subject_digest IN ({}))",
                digests.join(", ")
            )
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, seq, entry_digest, seal, seal_key_id FROM audit_log \
             WHERE seq IS NOT NULL AND seq > $1 AND recorded_at >= $2 AND recorded_at < $3 \
             AND {about} ORDER BY seq LIMIT $4"
        );
        let mut query = sqlx::query(&sql)
            .bind(after)
            .bind(from.to_owned())
            .bind(to.to_owned())
            .bind(limit)
            .bind(person_id.unwrap_or_default().to_owned());
        for digest in subject_digests {
            query = query.bind(digest.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(sequenced_of).collect()
    }

    /// The digest of the access matrix the hub last started with, if any.
    pub async fn access_matrix_digest(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT digest FROM access_matrix WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| row.try_get("digest"))
            .transpose()
            .map_err(Into::into)
    }

    /// Keeps the access matrix's digest and, when it replaces another, the audit entry that
    /// records the change, all or nothing.
    pub async fn record_access_matrix(
        &self,
        digest: &str,
        change: Option<&AuditEntryRow>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![
            Statement::new(
                "INSERT INTO access_matrix (id, digest, recorded_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET digest = $1, recorded_at = $2",
            )
            .text(digest)
            .text(super::exchanges::timestamp(time::OffsetDateTime::now_utc())),
        ];
        statements.extend(change.map(entry_written));
        self.writer.transaction(statements).await?;
        Ok(())
    }

    /// Writes an entry that stands alone (an operator's or an auditor's action), pending its
    /// place in the log.
    pub async fn record_audit_entry(&self, entry: &AuditEntryRow) -> Result<(), StoreError> {
        self.writer.execute(entry_written(entry)).await?;
        Ok(())
    }
}

/// The statement that writes `entry`, pending its place, for a transaction of what it records.
pub(super) fn entry_written(entry: &AuditEntryRow) -> Statement {
    Statement::new(format!(
        "INSERT INTO audit_log ({ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .text(&entry.entry_id)
    .text(&entry.kind)
    .text(&entry.recorded_at)
    .maybe_text(entry.exchange_id.clone())
    .maybe_text(entry.client_id.clone())
    .maybe_text(entry.service.clone())
    .maybe_text(entry.legal_basis.clone())
    .maybe_text(entry.reason.clone())
    .maybe_text(entry.case_id.clone())
    .maybe_text(entry.calling_user_digest.clone())
    .maybe_text(entry.subject_digest.clone())
    .maybe_text(entry.person_id.clone())
    .text(&entry.outcome)
    .maybe_text(entry.error_code.clone())
    .maybe_text(entry.fields_released.clone())
    .maybe_text(entry.request_digest.clone())
    .maybe_text(entry.response_digest.clone())
}

/// What stays in the store of an archived entry: its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedLeaf {
    pub seq: i64,
    pub entry_digest: String,
    pub seal: String,
    pub seal_key_id: String,
}

/// An archive file the log's oldest entries moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditArchive {
    pub from_seq: i64,
    pub up_to: i64,
    pub file_name: String,
    pub file_digest: String,
    pub archived_at: String,
}

impl Store {
    /// Where the live entries start: every entry before it is archived.
    pub async fn audit_archived_up_to(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(up_to), 0) AS n FROM audit_archives")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The leaves of archived entries from `from_seq` on, in order, at most `limit`.
    pub async fn audit_leaves(
        &self,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedLeaf>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, entry_digest, seal, seal_key_id FROM audit_leaves \
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ArchivedLeaf {
                    seq: row.try_get("seq")?,
                    entry_digest: row.try_get("entry_digest")?,
                    seal: row.try_get("seal")?,
                    seal_key_id: row.try_get("seal_key_id")?,
                })
            })
            .collect()
    }

    /// Moves the entries in `[from_seq, up_to)` out of the live log, keeping their leaves, and
    /// records the archive that holds them, all or nothing. `false`, changing nothing, when
    /// the live log no longer starts at `from_seq` (another archive ran).
    pub async fn archive_audit_entries(&self, archive: &AuditArchive) -> Result<bool, StoreError> {
        let outcome = self
            .writer
            .transaction(vec![
                Statement::new(
                    "INSERT INTO audit_archives (up_to, from_seq, file_name, file_digest, \
                     archived_at) SELECT $1, $2, $3, $4, $5 \
                     WHERE (SELECT COALESCE(MAX(up_to), 0) FROM audit_archives) = $2",
                )
                .integer(archive.up_to)
                .integer(archive.from_seq)
                .text(&archive.file_name)
                .text(&archive.file_digest)
                .text(&archive.archived_at)
                .must_change(),
                Statement::new(
                    "INSERT INTO audit_leaves (seq, entry_digest, seal, seal_key_id) \
                     SELECT seq, entry_digest, seal, seal_key_id FROM audit_log \
                     WHERE seq >= $1 AND seq < $2",
                )
                .integer(archive.from_seq)
                .integer(archive.up_to),
                Statement::new("DELETE FROM audit_log WHERE seq >= $1 AND seq < $2")
                    .integer(archive.from_seq)
                    .integer(archive.up_to),
            ])
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The archives, oldest first.
    pub async fn audit_archives(&self) -> Result<Vec<AuditArchive>, StoreError> {
        let rows = sqlx::query(
            "SELECT up_to, from_seq, file_name, file_digest, archived_at FROM audit_archives \
             ORDER BY up_to",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditArchive {
                    up_to: row.try_get("up_to")?,
                    from_seq: row.try_get("from_seq")?,
                    file_name: row.try_get("file_name")?,
                    file_digest: row.try_get("file_digest")?,
                    archived_at: row.try_get("archived_at")?,
                })
            })
            .collect()
    }
}
