//! The replay cache of signed MConnect message ids, and the case events agencies report.

use sqlx::Row;

use super::writer::Statement;
use super::{Store, StoreError, now_millis};

/// An event an agency reported about a person (`NotifyCaseRelevantEvent`), as stored.
#[derive(Debug, Clone)]
pub struct NewCaseEvent {
    pub id: uuid::Uuid,
    pub exchange_id: uuid::Uuid,
    pub agency: String,
    pub event_type: String,
    pub subject_digest: String,
    pub person_id: Option<String>,
    pub severity: String,
    /// The whole event, sealed.
    pub sealed_event: String,
    pub received_at: String,
}

/// A stored case event, without its sealed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEventRow {
    pub id: String,
    pub exchange_id: String,
    pub agency: String,
    pub event_type: String,
    pub person_id: Option<String>,
    pub severity: String,
    pub state: String,
    pub sealed_event: String,
}

/// How often expired message ids are swept out of the replay cache.
const SWEEP_EVERY_MS: i64 = 1_000;

/// A signed message's id as its sender used it, kept until its signature expires so that the
/// same message cannot be accepted twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMessage {
    pub sender: String,
    pub message_id: String,
    /// When the message's signature expires (epoch milliseconds).
    pub expires_at_ms: i64,
}

impl Store {
    /// Remembers that `sender` used `message_id`, until `expires_at_ms` (when the message's
    /// signature expires). Returns `false`, changing nothing, if the id was already used: the
    /// message is a replay. Expired entries are swept on the way, at most once a second.
    pub async fn remember_message(
        &self,
        sender: &str,
        message_id: &str,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let seen = SeenMessage {
            sender: sender.to_string(),
            message_id: message_id.to_string(),
            expires_at_ms,
        };
        let changed = self
            .writer
            .transaction(self.remembering(&seen, false))
            .await?;
        Ok(changed.last() == Some(&1))
    }

    /// The statements that record `seen` in the replay cache, the insert last, sweeping
    /// expired ids first at most once a second. With `refuse_replay`, a replayed id fails the
    /// whole transaction ([`StoreError::Unchanged`]).
    pub(super) fn remembering(&self, seen: &SeenMessage, refuse_replay: bool) -> Vec<Statement> {
        use std::sync::atomic::Ordering;
        let now = now_millis();
        let last = self.last_sweep.load(Ordering::Relaxed);
        let mut statements = Vec::with_capacity(2);
        if now - last >= SWEEP_EVERY_MS
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            statements.push(
                Statement::new("DELETE FROM mconnect_seen_messages WHERE expires_at < $1")
                    .integer(now),
            );
        }
        let insert = Statement::new(
            "INSERT INTO mconnect_seen_messages (sender, message_id, expires_at) \
             VALUES ($1, $2, $3) ON CONFLICT (sender, message_id) DO NOTHING",
        )
        .text(&seen.sender)
        .text(&seen.message_id)
        .integer(seen.expires_at_ms.max(now));
        statements.push(if refuse_replay {
            insert.must_change()
        } else {
            insert
        });
        statements
    }

    /// Stores a reported case event.
    pub async fn insert_case_event(&self, event: &NewCaseEvent) -> Result<(), StoreError> {
        self.writer
            .execute(
                Statement::new(
                    "INSERT INTO case_events (id, exchange_id, agency, event_type, \
                     subject_digest, person_id, severity, sealed_event, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .text(event.id.to_string())
                .text(event.exchange_id.to_string())
                .text(&event.agency)
                .text(&event.event_type)
                .text(&event.subject_digest)
                .maybe_text(event.person_id.clone())
                .text(&event.severity)
                .text(&event.sealed_event)
                .text(&event.received_at),
            )
            .await?;
        Ok(())
    }

    /// The case events with the given subject digest, oldest first.
    pub async fn case_events_about(
        &self,
        subject_digest: &str,
    ) -> Result<Vec<CaseEventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, exchange_id, agency, event_type, person_id, severity, state, \
             sealed_event FROM case_events WHERE subject_digest = $1 ORDER BY received_at, id",
        )
        .bind(subject_digest)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CaseEventRow {
                    id: row.try_get("id")?,
                    exchange_id: row.try_get("exchange_id")?,
                    agency: row.try_get("agency")?,
                    event_type: row.try_get("event_type")?,
                    person_id: row.try_get("person_id")?,
                    severity: row.try_get("severity")?,
                    state: row.try_get("state")?,
                    sealed_event: row.try_get("sealed_event")?,
                })
            })
            .collect()
    }
}
