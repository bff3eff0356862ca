//! The master index's tables: persons, sealed source records, history, reviews, human
//! non-match decisions, the trained model and the access audit. Every change of one operation
//! (or of one bulk-import batch) is written in one transaction.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyArguments;

use super::{Backend, Store, StoreError};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

/// Rows per multi-row INSERT; keeps the bound parameters under SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 200;

#[derive(Debug, Clone)]
pub struct MpiPersonRow {
    pub id: String,
    pub created_at: i64,
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MpiRecordRow {
    pub source: String,
    pub local_id: String,
    pub person_id: String,
    pub sealed_attributes: String,
    /// JSON of the link.
    pub link: String,
    pub updated_at: i64,
}

/// A record moved to another person, or its link changed, without new attributes.
#[derive(Debug, Clone)]
pub struct MpiRelink {
    pub source: String,
    pub local_id: String,
    pub person_id: String,
    pub link: String,
}

#[derive(Debug, Clone)]
pub struct MpiHistoryRow {
    pub id: String,
    pub action: String,
    pub actor: String,
    pub at: i64,
    /// JSON of the before and after states.
    pub changes: String,
    pub undoes: Option<String>,
    pub undone_by: Option<String>,
    /// The persons the entry concerns (for a person's history).
    pub persons: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MpiReviewRow {
    pub id: String,
    pub source: String,
    pub local_id: String,
    pub person_id: String,
    pub score: f64,
    pub reason: String,
    /// JSON of the score's contributions.
    pub explanation: String,
    pub status: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MpiNonMatchRow {
    pub source: String,
    pub local_id: String,
    pub person_id: String,
    pub actor: String,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct MpiAuditRow {
    pub id: String,
    pub at: i64,
    pub client_id: String,
    pub action: String,
    pub person_id: Option<String>,
    pub outcome: String,
}

/// Everything one operation changes, written atomically by [`Store::mpi_apply`].
#[derive(Debug, Default)]
pub struct MpiBatch {
    pub persons: Vec<MpiPersonRow>,
    /// (person, merged_into) updates of existing persons.
    pub person_merges: Vec<(String, Option<String>)>,
    /// Inserted or replaced, attributes included. At most one row per record.
    pub records: Vec<MpiRecordRow>,
    pub relinks: Vec<MpiRelink>,
    pub history: Vec<MpiHistoryRow>,
    /// (entry, undone by entry).
    pub undone: Vec<(String, String)>,
    pub reviews: Vec<MpiReviewRow>,
    /// (review, status, decided by, decided at).
    pub review_decisions: Vec<(String, String, String, i64)>,
    pub non_matches: Vec<MpiNonMatchRow>,
    /// (source, local id, person).
    pub non_match_removals: Vec<(String, String, String)>,
    pub audit: Vec<MpiAuditRow>,
}

impl MpiBatch {
    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
            && self.person_merges.is_empty()
            && self.records.is_empty()
            && self.relinks.is_empty()
            && self.history.is_empty()
            && self.undone.is_empty()
            && self.reviews.is_empty()
            && self.review_decisions.is_empty()
            && self.non_matches.is_empty()
            && self.non_match_removals.is_empty()
            && self.audit.is_empty()
    }

    /// Appends another batch's changes after this one's.
    pub fn extend(&mut self, other: MpiBatch) {
        self.persons.extend(other.persons);
        self.person_merges.extend(other.person_merges);
        self.records.extend(other.records);
        self.relinks.extend(other.relinks);
        self.history.extend(other.history);
        self.undone.extend(other.undone);
        self.reviews.extend(other.reviews);
        self.review_decisions.extend(other.review_decisions);
        self.non_matches.extend(other.non_matches);
        self.non_match_removals.extend(other.non_match_removals);
        self.audit.extend(other.audit);
    }
}

/// `INSERT INTO table (columns) VALUES ($1, ...), (...) [suffix]` for `rows` rows. SQLite gets
/// anonymous `?` placeholders: its driver resolves numbered ones by name, one lookup over all
/// parameters per parameter, which is quadratic in a multi-row statement.
fn multi_row_insert(
    head: &str,
    columns: usize,
    rows: usize,
    suffix: &str,
    backend: Backend,
) -> String {
    let mut sql = String::with_capacity(head.len() + rows * columns * 6 + suffix.len());
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut parameter = 1;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&parameter.to_string());
                }
            }
            parameter += 1;
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(suffix);
    sql
}

async fn insert_many<R>(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    columns: usize,
    suffix: &str,
    rows: &[R],
    bind: impl for<'q> Fn(AnyQuery<'q>, &R) -> AnyQuery<'q>,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = multi_row_insert(head, columns, chunk.len(), suffix, backend);
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Epoch milliseconds as the audit log writes times.
fn millis_timestamp(at: i64) -> String {
    super::exchanges::timestamp(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

fn person_row(row: &sqlx::any::AnyRow) -> Result<MpiPersonRow, sqlx::Error> {
    Ok(MpiPersonRow {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        merged_into: row.try_get("merged_into")?,
    })
}

fn record_row(row: &sqlx::any::AnyRow) -> Result<MpiRecordRow, sqlx::Error> {
    Ok(MpiRecordRow {
        source: row.try_get("source")?,
        local_id: row.try_get("local_id")?,
        person_id: row.try_get("person_id")?,
        sealed_attributes: row.try_get("sealed_attributes")?,
        link: row.try_get("link")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn history_row(row: &sqlx::any::AnyRow) -> Result<MpiHistoryRow, sqlx::Error> {
    Ok(MpiHistoryRow {
        id: row.try_get("id")?,
        action: row.try_get("action")?,
        actor: row.try_get("actor")?,
        at: row.try_get("at")?,
        changes: row.try_get("changes")?,
        undoes: row.try_get("undoes")?,
        undone_by: row.try_get("undone_by")?,
        persons: Vec::new(),
    })
}

fn review_row(row: &sqlx::any::AnyRow) -> Result<MpiReviewRow, sqlx::Error> {
    Ok(MpiReviewRow {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        local_id: row.try_get("local_id")?,
        person_id: row.try_get("person_id")?,
        score: row.try_get("score")?,
        reason: row.try_get("reason")?,
        explanation: row.try_get("explanation")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
    })
}

const RECORD_COLUMNS: &str = "source, local_id, person_id, sealed_attributes, link, updated_at";
const HISTORY_COLUMNS: &str = "id, action, actor, at, changes, undoes, undone_by";
const REVIEW_COLUMNS: &str = "id, source, local_id, person_id, score, reason, explanation, \
                              status, created_at, decided_by, decided_at";

impl Store {
    /// Writes one operation's (or one import batch's) changes in a single transaction.
    pub async fn mpi_apply(&self, batch: &MpiBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO mpi_persons (id, created_at, merged_into)",
            3,
            "",
            &batch.persons,
            |q, p| {
                q.bind(p.id.clone())
                    .bind(p.created_at)
                    .bind(p.merged_into.clone())
            },
        )
        .await?;
        for (person, merged_into) in &batch.person_merges {
            sqlx::query("UPDATE mpi_persons SET merged_into = $1 WHERE id = $2")
                .bind(merged_into.clone())
                .bind(person.clone())
                .execute(&mut *tx)
                .await?;
        }
        insert_many(
            &mut tx,
            self.backend(),
            &format!("INSERT INTO mpi_records ({RECORD_COLUMNS})"),
            6,
            "ON CONFLICT (source, local_id) DO UPDATE SET person_id = excluded.person_id, \
             sealed_attributes = excluded.sealed_attributes, link = excluded.link, \
             updated_at = excluded.updated_at",
            &batch.records,
            |q, r| {
                q.bind(r.source.clone())
                    .bind(r.local_id.clone())
                    .bind(r.person_id.clone())
                    .bind(r.sealed_attributes.clone())
                    .bind(r.link.clone())
                    .bind(r.updated_at)
            },
        )
        .await?;
        for relink in &batch.relinks {
            sqlx::query(
                "UPDATE mpi_records SET person_id = $1, link = $2 WHERE source = $3 AND local_id = $4",
            )
            .bind(relink.person_id.clone())
            .bind(relink.link.clone())
            .bind(relink.source.clone())
            .bind(relink.local_id.clone())
            .execute(&mut *tx)
            .await?;
        }
        insert_many(
            &mut tx,
            self.backend(),
            &format!("INSERT INTO mpi_history ({HISTORY_COLUMNS})"),
            7,
            "",
            &batch.history,
            |q, h| {
                q.bind(h.id.clone())
                    .bind(h.action.clone())
                    .bind(h.actor.clone())
                    .bind(h.at)
                    .bind(h.changes.clone())
                    .bind(h.undoes.clone())
                    .bind(h.undone_by.clone())
            },
        )
        .await?;
        let history_persons: Vec<(String, String)> = batch
            .history
            .iter()
            .flat_map(|h| h.persons.iter().map(|p| (p.clone(), h.id.clone())))
            .collect();
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO mpi_history_persons (person_id, entry_id)",
            2,
            "ON CONFLICT DO NOTHING",
            &history_persons,
            |q, (person, entry)| q.bind(person.clone()).bind(entry.clone()),
        )
        .await?;
        // Every change, for each person it concerns, in the audit log, in the same
        // transaction: a change that cannot be audited is not made.
        let changed: Vec<(&MpiHistoryRow, &String)> = batch
            .history
            .iter()
            .flat_map(|h| h.persons.iter().map(move |person| (h, person)))
            .collect();
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO audit_log (entry_id, kind, recorded_at, client_id, person_id, outcome)",
            6,
            "ON CONFLICT DO NOTHING",
            &changed,
            |q, (history, person)| {
                q.bind(format!("{}/{person}", history.id))
                    .bind(format!("mpi.change.{}", history.action))
                    .bind(millis_timestamp(history.at))
                    .bind(history.actor.clone())
                    .bind((*person).clone())
                    .bind("ok")
            },
        )
        .await?;
        for (entry, undone_by) in &batch.undone {
            sqlx::query("UPDATE mpi_history SET undone_by = $1 WHERE id = $2")
                .bind(undone_by.clone())
                .bind(entry.clone())
                .execute(&mut *tx)
                .await?;
        }
        insert_many(
            &mut tx,
            self.backend(),
            &format!("INSERT INTO mpi_reviews ({REVIEW_COLUMNS})"),
            11,
            "",
            &batch.reviews,
            |q, r| {
                q.bind(r.id.clone())
                    .bind(r.source.clone())
                    .bind(r.local_id.clone())
                    .bind(r.person_id.clone())
                    .bind(r.score)
                    .bind(r.reason.clone())
                    .bind(r.explanation.clone())
                    .bind(r.status.clone())
                    .bind(r.created_at)
                    .bind(r.decided_by.clone())
                    .bind(r.decided_at)
            },
        )
        .await?;
        for (review, status, by, at) in &batch.review_decisions {
            sqlx::query(
                "UPDATE mpi_reviews SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4",
            )
            .bind(status.clone())
            .bind(by.clone())
            .bind(*at)
            .bind(review.clone())
            .execute(&mut *tx)
            .await?;
        }
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO mpi_non_matches (source, local_id, person_id, actor, at)",
            5,
            "ON CONFLICT DO NOTHING",
            &batch.non_matches,
            |q, n| {
                q.bind(n.source.clone())
                    .bind(n.local_id.clone())
                    .bind(n.person_id.clone())
                    .bind(n.actor.clone())
                    .bind(n.at)
            },
        )
        .await?;
        for (source, local_id, person) in &batch.non_match_removals {
            sqlx::query(
                "DELETE FROM mpi_non_matches WHERE source = $1 AND local_id = $2 AND person_id = $3",
            )
            .bind(source.clone())
            .bind(local_id.clone())
            .bind(person.clone())
            .execute(&mut *tx)
            .await?;
        }
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO mpi_audit (id, at, client_id, action, person_id, outcome)",
            6,
            "",
            &batch.audit,
            |q, a| {
                q.bind(a.id.clone())
                    .bind(a.at)
                    .bind(a.client_id.clone())
                    .bind(a.action.clone())
                    .bind(a.person_id.clone())
                    .bind(a.outcome.clone())
            },
        )
        .await?;
        // The same actions in the audit log, in the same transaction.
        insert_many(
            &mut tx,
            self.backend(),
            "INSERT INTO audit_log (entry_id, kind, recorded_at, client_id, person_id, outcome)",
            6,
            "",
            &batch.audit,
            |q, a| {
                q.bind(a.id.clone())
                    .bind(format!("mpi.{}", a.action))
                    .bind(millis_timestamp(a.at))
                    .bind(a.client_id.clone())
                    .bind(a.person_id.clone())
                    .bind(a.outcome.clone())
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn mpi_persons(&self) -> Result<Vec<MpiPersonRow>, StoreError> {
        let rows = sqlx::query("SELECT id, created_at, merged_into FROM mpi_persons")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(person_row).collect::<Result<_, _>>()?)
    }

    pub async fn mpi_person(&self, id: &str) -> Result<Option<MpiPersonRow>, StoreError> {
        let row = sqlx::query("SELECT id, created_at, merged_into FROM mpi_persons WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(person_row).transpose()?)
    }

    /// Streams every record to `each`, without holding them all. On SQLite the scan reads
    /// through the connection's page cache, not the memory map: every page of the table read
    /// through the map would stay resident in the process beside the index built from it.
    pub async fn mpi_each_record(
        &self,
        mut each: impl FnMut(MpiRecordRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool().acquire().await?;
        let sqlite = self.backend == Backend::Sqlite;
        if sqlite {
            sqlx::query("PRAGMA mmap_size = 0")
                .execute(&mut *connection)
                .await?;
        }
        let sql = format!("SELECT {RECORD_COLUMNS} FROM mpi_records");
        let scanned = async {
            let mut rows = sqlx::query(&sql).fetch(&mut *connection);
            while let Some(row) = rows.try_next().await? {
                each(record_row(&row)?)?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        if sqlite {
            sqlx::query(super::writer::MMAP)
                .execute(&mut *connection)
                .await?;
        }
        scanned
    }

    pub async fn mpi_records_of(&self, person: &str) -> Result<Vec<MpiRecordRow>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM mpi_records WHERE person_id = $1 ORDER BY source, local_id"
        );
        let rows = sqlx::query(&sql)
            .bind(person.to_owned())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(record_row).collect::<Result<_, _>>()?)
    }

    pub async fn mpi_non_match_rows(&self) -> Result<Vec<MpiNonMatchRow>, StoreError> {
        let rows =
            sqlx::query("SELECT source, local_id, person_id, actor, at FROM mpi_non_matches")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                Ok(MpiNonMatchRow {
                    source: row.try_get("source")?,
                    local_id: row.try_get("local_id")?,
                    person_id: row.try_get("person_id")?,
                    actor: row.try_get("actor")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// A person's history, oldest first.
    pub async fn mpi_history_of(&self, person: &str) -> Result<Vec<MpiHistoryRow>, StoreError> {
        let sql = "SELECT h.id, h.action, h.actor, h.at, h.changes, h.undoes, h.undone_by \
                   FROM mpi_history h JOIN mpi_history_persons p ON p.entry_id = h.id \
                   WHERE p.person_id = $1 ORDER BY h.id";
        let rows = sqlx::query(sql)
            .bind(person.to_owned())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(history_row).collect::<Result<_, _>>()?)
    }

    pub async fn mpi_history_entry(&self, id: &str) -> Result<Option<MpiHistoryRow>, StoreError> {
        let sql = format!("SELECT {HISTORY_COLUMNS} FROM mpi_history WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(history_row).transpose()?)
    }

    /// Reviews with `status`, oldest first.
    pub async fn mpi_reviews(
        &self,
        status: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<MpiReviewRow>, StoreError> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM mpi_reviews WHERE status = $1 \
             ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(status.to_owned())
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(review_row).collect::<Result<_, _>>()?)
    }

    pub async fn mpi_review(&self, id: &str) -> Result<Option<MpiReviewRow>, StoreError> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM mpi_reviews WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(review_row).transpose()?)
    }

    pub async fn mpi_model(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT parameters FROM mpi_model WHERE id = 'current'")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("parameters")).transpose()?)
    }

    pub async fn mpi_save_model(&self, parameters: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mpi_model (id, parameters, trained_at) VALUES ('current', $1, $2) \
             ON CONFLICT (id) DO UPDATE SET parameters = excluded.parameters, \
             trained_at = excluded.trained_at",
        )
        .bind(parameters.to_owned())
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Audit rows about a person, newest first (for operators and tests).
    pub async fn mpi_audit_of(&self, person: &str) -> Result<Vec<MpiAuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, client_id, action, person_id, outcome FROM mpi_audit \
             WHERE person_id = $1 ORDER BY at DESC, id DESC",
        )
        .bind(person.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MpiAuditRow {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    client_id: row.try_get("client_id")?,
                    action: row.try_get("action")?,
                    person_id: row.try_get("person_id")?,
                    outcome: row.try_get("outcome")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_parameters_in_order() {
        assert_eq!(
            multi_row_insert(
                "INSERT INTO t (a, b)",
                2,
                2,
                "ON CONFLICT DO NOTHING",
                Backend::Postgres
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            multi_row_insert("INSERT INTO t (a)", 1, 2, "", Backend::Sqlite),
            "INSERT INTO t (a) VALUES (?), (?) "
        );
    }
}
