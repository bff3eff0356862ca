//! The outbox: what the hub sends on (alerts to MNotify and webhooks, hand-off documents and
//! notices), each written in the transaction of what gave it and then claimed under a lease,
//! sent, and ended sent or dead; dead ones wait for an operator's replay.

use sqlx::Row as _;

use super::events::{count_states, integer, text};
use super::queue::now_millis;
use super::writer::{Kind, Statement};
use super::{Store, StoreError};

/// One thing to send, written with what gives it (an event's `handled`, a hand-off's step).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// UUIDv7; MNotify's `externalId` or the webhook's CloudEvent id.
    pub id: String,
    /// The subscription that gave the alert, or the hand-off's step.
    pub purpose: String,
    /// `mnotify` or `webhook`.
    pub channel: String,
    /// The case manager's work address, or the endpoint's name.
    pub target: String,
    pub case_id: String,
    pub priority: String,
    pub sealed_payload: String,
}

/// A delivery a worker holds.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub origin_id: String,
    pub purpose: String,
    pub channel: String,
    pub target: String,
    pub priority: String,
    pub sealed_payload: String,
    pub attempts: i64,
}

/// A delivery as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub origin_id: String,
    pub purpose: String,
    pub channel: String,
    pub case_id: String,
    pub priority: String,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub remote_id: Option<String>,
    /// The last status MNotify gave for the notification.
    pub remote_status: Option<String>,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

const CLAIMED_DELIVERY: &str =
    "id, origin_id, purpose, channel, target, priority, sealed_payload, attempts";
const CLAIMED_DELIVERY_KINDS: &[Kind] = &[
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Integer,
];
const DELIVERY: &str = "id, origin_id, purpose, channel, case_id, priority, state, reason, \
     attempts, remote_id, remote_status, created_at, ended_at";

impl Store {
    /// How many deliveries are in each state.
    pub async fn delivery_states(&self) -> Result<Vec<(String, i64)>, StoreError> {
        count_states(self, "deliveries").await
    }

    /// Takes up to `limit` deliveries that are due, oldest first, for `lease_ms`.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
        holder: &str,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now = now_millis();
        let due = "((state IN ('pending', 'waiting') AND available_at <= $1) \
                   OR (state = 'working' AND lease_until <= $1))";
        let statement = Statement::new(format!(
            "UPDATE deliveries SET state = 'working', lease_until = $2, \
             lease_holder = $3, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM deliveries WHERE {due} \
               ORDER BY available_at LIMIT $4) AND {due} \
             RETURNING {CLAIMED_DELIVERY}"
        ))
        .integer(now)
        .integer(now + lease_ms)
        .text(holder)
        .integer(limit)
        .returning(CLAIMED_DELIVERY_KINDS);
        let rows = self.writer.fetch(statement).await?;
        rows.into_iter()
            .map(|row| {
                let mut values = row.into_iter();
                Ok(ClaimedDelivery {
                    id: text(values.next())?,
                    origin_id: text(values.next())?,
                    purpose: text(values.next())?,
                    channel: text(values.next())?,
                    target: text(values.next())?,
                    priority: text(values.next())?,
                    sealed_payload: text(values.next())?,
                    attempts: integer(values.next())?,
                })
            })
            .collect()
    }

    /// Ends a held delivery as sent, with the receiver's id for it; what it carried is erased.
    pub async fn delivery_sent(
        &self,
        id: &str,
        holder: &str,
        remote_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .writer
            .execute(
                Statement::new(
                    "UPDATE deliveries SET state = 'sent', ended_at = $1, \
                     lease_until = NULL, reason = NULL, remote_id = $2, sealed_payload = '' \
                     WHERE id = $3 AND state = 'working' AND lease_holder = $4",
                )
                .integer(now_millis())
                .maybe_text(remote_id.map(str::to_string))
                .text(id)
                .text(holder),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Puts a held delivery back to wait until `available_at`, or, with `None`, ends it
    /// dead; either way with the reason.
    pub async fn delivery_failed(
        &self,
        id: &str,
        holder: &str,
        available_at: Option<i64>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let statement = match available_at {
            Some(at) => Statement::new(
                "UPDATE deliveries SET state = 'waiting', available_at = $1, \
                 lease_until = NULL, reason = $2 \
                 WHERE id = $3 AND state = 'working' AND lease_holder = $4",
            )
            .integer(at),
            None => Statement::new(
                "UPDATE deliveries SET state = 'dead', ended_at = $1, \
                 lease_until = NULL, reason = $2 \
                 WHERE id = $3 AND state = 'working' AND lease_holder = $4",
            )
            .integer(now_millis()),
        };
        let changed = self
            .writer
            .execute(statement.text(reason).text(id).text(holder))
            .await?;
        Ok(changed == 1)
    }

    /// Notifications MNotify took since `since` (epoch milliseconds) whose fate it has not
    /// told yet: (delivery id, MNotify's id), oldest first.
    pub async fn notifications_to_follow(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, remote_id FROM deliveries WHERE channel = 'mnotify' AND state = 'sent' \
             AND remote_id IS NOT NULL AND (remote_status IS NULL OR remote_status NOT IN \
             ('Delivered', 'Read', 'Failed', 'Cancelled')) AND ended_at >= $1 \
             ORDER BY ended_at LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("remote_id")?)))
            .collect()
    }

    /// Records the status MNotify gives for a notification.
    pub async fn notification_status(&self, id: &str, status: &str) -> Result<(), StoreError> {
        self.writer
            .execute(
                Statement::new("UPDATE deliveries SET remote_status = $1 WHERE id = $2")
                    .text(status)
                    .text(id),
            )
            .await?;
        Ok(())
    }

    /// Makes a dead delivery due again now, from its first attempt.
    pub async fn replay_delivery(&self, id: &str) -> Result<bool, StoreError> {
        let changed = self
            .writer
            .execute(
                Statement::new(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, \
                     available_at = $1, ended_at = NULL, reason = NULL \
                     WHERE id = $2 AND state = 'dead'",
                )
                .integer(now_millis())
                .text(id),
            )
            .await?;
        Ok(changed == 1)
    }

    /// The deliveries an event or a hand-off gave, or (`origin_id` `None`) the dead ones,
    /// oldest first.
    pub async fn deliveries(
        &self,
        origin_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let (condition, value) = match origin_id {
            Some(origin_id) => ("origin_id = $1", origin_id),
            None => ("state = $1", "dead"),
        };
        let sql = format!(
            "SELECT {DELIVERY} FROM deliveries WHERE {condition} \
             ORDER BY created_at, id LIMIT $2"
        );
        let query = sqlx::query(&sql).bind(value.to_string());
        let rows = query.bind(limit).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    id: row.try_get("id")?,
                    origin_id: row.try_get("origin_id")?,
                    purpose: row.try_get("purpose")?,
                    channel: row.try_get("channel")?,
                    case_id: row.try_get("case_id")?,
                    priority: row.try_get("priority")?,
                    state: row.try_get("state")?,
                    reason: row.try_get("reason")?,
                    attempts: row.try_get("attempts")?,
                    remote_id: row.try_get("remote_id")?,
                    remote_status: row.try_get("remote_status")?,
                    created_at: row.try_get("created_at")?,
                    ended_at: row.try_get("ended_at")?,
                })
            })
            .collect()
    }
}

/// The statement that writes `delivery`, given by `origin_id`, unless it was written before.
pub(super) fn delivery_written(origin_id: &str, delivery: &NewDelivery) -> Statement {
    Statement::new(
        "INSERT INTO deliveries (id, origin_id, purpose, channel, target, case_id, priority, \
         sealed_payload, state, available_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9) \
         ON CONFLICT (origin_id, purpose, channel, target, case_id) DO NOTHING",
    )
    .text(&delivery.id)
    .text(origin_id)
    .text(&delivery.purpose)
    .text(&delivery.channel)
    .text(&delivery.target)
    .text(&delivery.case_id)
    .text(&delivery.priority)
    .text(&delivery.sealed_payload)
    .integer(now_millis())
}
