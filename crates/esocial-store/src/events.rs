//! Events taken from MConnect Events: taking an event once (by its source and id), claiming
//! the next event of each partition in order under a lease, ending it (handled with its
//! deliveries and audit entry in one transaction, waiting, in review or dead), and replaying a
//! parked one.

use sqlx::Row as _;

use super::audit::{AuditEntryRow, entry_written};
use super::deliveries::{NewDelivery, delivery_written};
use super::queue::now_millis;
use super::writer::{Kind, Statement, Value};
use super::{Store, StoreError};

/// States in which an event still holds its partition: later events of it wait.
const OPEN: &str = "('pending', 'working', 'waiting', 'review')";

/// An event as taken, before its first handling.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// UUIDv7: ids order events as they were taken.
    pub id: String,
    pub source: String,
    pub cloudevent_id: String,
    pub event_type: String,
    /// Keyed digest of the `partitionkey`.
    pub partition_digest: String,
    /// How it came: `consumer` (the MConnect Events stream) or `producer:<client>`.
    pub channel: String,
    pub sealed_event: String,
}

/// What taking an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Stored, to be handled.
    Taken,
    /// An event with the same source and id was taken before; nothing changed.
    Seen,
}

/// An event a worker holds.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub id: String,
    pub event_type: String,
    pub sealed_event: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// Where a held event goes when it cannot be handled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// An operator must resolve its subject, then replay it.
    Review,
    /// It can never be handled as it is.
    Dead,
}

impl Parked {
    fn state(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Dead => "dead",
        }
    }
}

/// An event as operators see it (no personal data): in review, dead, or looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub id: String,
    pub source: String,
    pub cloudevent_id: String,
    pub event_type: String,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub received_at: i64,
    pub ended_at: Option<i64>,
}

const CLAIMED_EVENT: &str = "id, event_type, sealed_event, attempts";
const CLAIMED_EVENT_KINDS: &[Kind] = &[Kind::Text, Kind::Text, Kind::Text, Kind::Integer];
const PARKED_EVENT: &str =
    "id, source, cloudevent_id, event_type, state, reason, attempts, received_at, ended_at";

impl Store {
    /// Takes events in one transaction, in order; each is [`Intake::Seen`] if its source and
    /// id were taken before. Either all are written or none.
    pub async fn take_events(&self, events: &[NewEvent]) -> Result<Vec<Intake>, StoreError> {
        let now = now_millis();
        let mut statements = Vec::with_capacity(2 * events.len());
        for event in events {
            statements.push(
                Statement::new(
                    "INSERT INTO events (id, source, cloudevent_id, event_type, \
                     partition_digest, channel, sealed_event, state, available_at, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) \
                     ON CONFLICT (source, cloudevent_id) DO NOTHING",
                )
                .text(&event.id)
                .text(&event.source)
                .text(&event.cloudevent_id)
                .text(&event.event_type)
                .text(&event.partition_digest)
                .text(&event.channel)
                .text(&event.sealed_event)
                .integer(now),
            );
            // The event heads its partition when nothing older of it is open (and only if it
            // was taken: one seen before changes nothing).
            statements.push(
                Statement::new(
                    "INSERT INTO event_partitions (partition_digest, head) \
                     SELECT CAST($1 AS TEXT), CAST($2 AS TEXT) \
                     WHERE EXISTS (SELECT 1 FROM events WHERE id = $2) \
                     ON CONFLICT (partition_digest) \
                     DO UPDATE SET head = COALESCE(event_partitions.head, excluded.head)",
                )
                .text(&event.partition_digest)
                .text(&event.id),
            );
        }
        let changed = self.writer.transaction(statements).await?;
        Ok(changed
            .into_iter()
            .step_by(2)
            .map(|rows| {
                if rows == 1 {
                    Intake::Taken
                } else {
                    Intake::Seen
                }
            })
            .collect())
    }

    /// Takes up to `limit` events that are due, for `lease_ms` on behalf of `holder`: in each
    /// partition only its head, the oldest event not yet ended, so a partition's events are
    /// handled one at a time and in order. An event whose lease expired is due again.
    pub async fn claim_events(
        &self,
        limit: i64,
        lease_ms: i64,
        holder: &str,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let now = now_millis();
        let due = "((e.state IN ('pending', 'waiting') AND e.available_at <= $1) \
                   OR (e.state = 'working' AND e.lease_until <= $1))";
        let statement = Statement::new(format!(
            "UPDATE events SET state = 'working', lease_until = $2, lease_holder = $3, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT e.id FROM event_partitions p JOIN events e ON e.id = p.head \
               WHERE p.head IS NOT NULL AND {due} ORDER BY p.head LIMIT $4) \
             AND ((state IN ('pending', 'waiting') AND available_at <= $1) \
               OR (state = 'working' AND lease_until <= $1)) \
             RETURNING {CLAIMED_EVENT}"
        ))
        .integer(now)
        .integer(now + lease_ms)
        .text(holder)
        .integer(limit)
        .returning(CLAIMED_EVENT_KINDS);
        let rows = self.writer.fetch(statement).await?;
        rows.into_iter()
            .map(|row| {
                let mut values = row.into_iter();
                Ok(ClaimedEvent {
                    id: text(values.next())?,
                    event_type: text(values.next())?,
                    sealed_event: text(values.next())?,
                    attempts: integer(values.next())?,
                })
            })
            .collect()
    }

    /// Ends a held event as handled: its deliveries (each once, whatever an earlier
    /// interrupted handling wrote) and its audit entry, all in one transaction. The event's
    /// sealed content is erased: its row stays only to recognise it if it comes again. `false`,
    /// writing nothing, when `holder` no longer holds it.
    pub async fn event_handled(
        &self,
        id: &str,
        holder: &str,
        person_id: Option<&str>,
        deliveries: &[NewDelivery],
        entry: &AuditEntryRow,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut statements = vec![
            Statement::new(
                "UPDATE events SET state = 'handled', ended_at = $1, lease_until = NULL, \
                 reason = NULL, person_id = $2, sealed_event = '' \
                 WHERE id = $3 AND state = 'working' AND lease_holder = $4",
            )
            .integer(now)
            .maybe_text(person_id.map(str::to_string))
            .text(id)
            .text(holder)
            .must_change(),
            next_head(id),
        ];
        statements.extend(
            deliveries
                .iter()
                .map(|delivery| delivery_written(id, delivery)),
        );
        statements.push(entry_written(entry));
        unchanged_is_false(self.writer.transaction(statements).await)
    }

    /// Puts a held event back to be tried again at `available_at` (epoch milliseconds).
    pub async fn event_later(
        &self,
        id: &str,
        holder: &str,
        available_at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .writer
            .execute(
                Statement::new(
                    "UPDATE events SET state = 'waiting', available_at = $1, lease_until = NULL, \
                     reason = $2 WHERE id = $3 AND state = 'working' AND lease_holder = $4",
                )
                .integer(available_at)
                .text(reason)
                .text(id)
                .text(holder),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Parks a held event in review or among the dead, with the reason and, when the parking
    /// touched personal data (a subject looked up), its audit entry.
    pub async fn event_parked(
        &self,
        id: &str,
        holder: &str,
        parked: Parked,
        reason: &str,
        entry: Option<&AuditEntryRow>,
    ) -> Result<bool, StoreError> {
        let mut statements = vec![
            Statement::new(
                "UPDATE events SET state = $1, ended_at = $2, lease_until = NULL, reason = $3 \
                 WHERE id = $4 AND state = 'working' AND lease_holder = $5",
            )
            .text(parked.state())
            .integer(now_millis())
            .text(reason)
            .text(id)
            .text(holder)
            .must_change(),
            next_head(id),
        ];
        statements.extend(entry.map(entry_written));
        unchanged_is_false(self.writer.transaction(statements).await)
    }

    /// Makes an event in review or dead due again now, from its first attempt. `false` when
    /// there is no such parked event.
    pub async fn replay_event(&self, id: &str) -> Result<bool, StoreError> {
        let changed = self
            .writer
            .transaction(vec![
                Statement::new(
                    "UPDATE events SET state = 'pending', attempts = 0, available_at = $1, \
                     ended_at = NULL, reason = NULL WHERE id = $2 AND state IN ('review', 'dead')",
                )
                .integer(now_millis())
                .text(id),
                next_head(id),
            ])
            .await?;
        Ok(changed[0] == 1)
    }

    /// Events in review (`Parked::Review`) or dead, oldest first.
    pub async fn parked_events(
        &self,
        parked: Parked,
        limit: i64,
    ) -> Result<Vec<ParkedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PARKED_EVENT} FROM events WHERE state = $1 ORDER BY id LIMIT $2"
        ))
        .bind(parked.state())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(parked_event).collect()
    }

    /// The event taken from `source` with CloudEvent id `cloudevent_id`, as operators see it.
    pub async fn event_by_source(
        &self,
        source: &str,
        cloudevent_id: &str,
    ) -> Result<Option<ParkedEvent>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PARKED_EVENT} FROM events WHERE source = $1 AND cloudevent_id = $2"
        ))
        .bind(source.to_string())
        .bind(cloudevent_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(parked_event).transpose()
    }

    /// How many events are in each state.
    pub async fn event_states(&self) -> Result<Vec<(String, i64)>, StoreError> {
        count_states(self, "events").await
    }
}

fn parked_event(row: &sqlx::any::AnyRow) -> Result<ParkedEvent, StoreError> {
    Ok(ParkedEvent {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        cloudevent_id: row.try_get("cloudevent_id")?,
        event_type: row.try_get("event_type")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        attempts: row.try_get("attempts")?,
        received_at: row.try_get("received_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// The statement that makes the head of event `id`'s partition its oldest event not yet
/// ended (none when all have ended), after that event ended or was replayed.
fn next_head(id: &str) -> Statement {
    Statement::new(format!(
        "UPDATE event_partitions SET head = (SELECT MIN(o.id) FROM events o \
         WHERE o.partition_digest = event_partitions.partition_digest AND o.state IN {OPEN}) \
         WHERE partition_digest = (SELECT partition_digest FROM events WHERE id = $1)"
    ))
    .text(id)
}

pub(super) async fn count_states(
    store: &Store,
    table: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT state, COUNT(*) AS n FROM {table} GROUP BY state ORDER BY state"
    ))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect()
}

fn unchanged_is_false(outcome: Result<Vec<u64>, StoreError>) -> Result<bool, StoreError> {
    match outcome {
        Ok(_) => Ok(true),
        Err(StoreError::Unchanged) => Ok(false),
        Err(error) => Err(error),
    }
}

pub(super) fn text(value: Option<Value>) -> Result<String, StoreError> {
    value
        .and_then(Value::into_text)
        .ok_or_else(|| StoreError::Corrupt("a returned text column is missing".into()))
}

pub(super) fn integer(value: Option<Value>) -> Result<i64, StoreError> {
    value
        .and_then(Value::into_integer)
        .ok_or_else(|| StoreError::Corrupt("a returned integer column is missing".into()))
}
