//! Referrals and transfers between agencies: each step (sent, received, decided, escalated)
//! is one transaction that moves the state only from the state it expects, writes the audit
//! entry and the deliveries the step gives (the document to the receiver, notices to the
//! sender), so a step is never done twice and never half done. Once delivered, the document
//! is erased from the outbox: the hub keeps the envelope and the states.

use sqlx::Row as _;

use super::audit::{AuditEntryRow, entry_written};
use super::deliveries::{NewDelivery, delivery_written};
use super::queue::now_millis;
use super::writer::Statement;
use super::{Store, StoreError};

/// A hand-off as it is first recorded.
#[derive(Debug, Clone)]
pub struct NewHandoff {
    pub id: String,
    /// `referral` or `transfer`.
    pub kind: String,
    pub sender: String,
    pub receiver: String,
    pub idempotency_key: String,
    /// SHA-256 of the request, so that a retry with the same key and another body is told
    /// apart.
    pub request_digest: String,
    pub case_id: String,
    pub subject_digest: String,
    pub legal_basis: String,
    pub reason: String,
    pub document_digest: String,
    pub respond_by: i64,
}

/// A hand-off and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffRow {
    pub id: String,
    pub kind: String,
    pub sender: String,
    pub receiver: String,
    pub request_digest: String,
    pub case_id: String,
    /// Keyed digest of the subject's IDNP.
    pub subject_digest: String,
    pub document_digest: String,
    pub state: String,
    pub respond_by: i64,
    pub created_at: i64,
    pub received_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    pub escalated_at: Option<i64>,
    /// Whether the outbox still holds the document (until the receiver's endpoint takes it).
    pub document_held: bool,
}

/// What recording a hand-off came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The sender made one with this idempotency key before: that one.
    Before(Box<HandoffRow>),
}

const COLUMNS: &str = "id, kind, sender, receiver, request_digest, case_id, subject_digest, \
     document_digest, state, respond_by, created_at, received_at, decided_at, decision_reason, \
     escalated_at, (SELECT COUNT(*) FROM deliveries d WHERE d.origin_id = handoffs.id \
     AND d.purpose = 'document' AND d.sealed_payload <> '') AS document_held";

impl Store {
    /// Records a hand-off in state `sent` with the delivery of its document and its audit
    /// entry; a sender's second request with the same idempotency key records nothing and
    /// gives the first.
    pub async fn record_handoff(
        &self,
        handoff: &NewHandoff,
        document: &NewDelivery,
        entry: &AuditEntryRow,
    ) -> Result<Recorded, StoreError> {
        let written = self
            .writer
            .transaction(vec![
                Statement::new(
                    "INSERT INTO handoffs (id, kind, sender, receiver, idempotency_key, \
                     request_digest, case_id, subject_digest, legal_basis, reason, \
                     document_digest, state, respond_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'sent', $12, $13)",
                )
                .text(&handoff.id)
                .text(&handoff.kind)
                .text(&handoff.sender)
                .text(&handoff.receiver)
                .text(&handoff.idempotency_key)
                .text(&handoff.request_digest)
                .text(&handoff.case_id)
                .text(&handoff.subject_digest)
                .text(&handoff.legal_basis)
                .text(&handoff.reason)
                .text(&handoff.document_digest)
                .integer(handoff.respond_by)
                .integer(now_millis()),
                delivery_written(&handoff.id, document),
                entry_written(entry),
            ])
            .await;
        match written {
            Ok(_) => Ok(Recorded::New),
            Err(error) => match self
                .handoff_by_key(&handoff.sender, &handoff.idempotency_key)
                .await?
            {
                Some(before) => Ok(Recorded::Before(Box::new(before))),
                None => Err(error),
            },
        }
    }

    async fn handoff_by_key(
        &self,
        sender: &str,
        idempotency_key: &str,
    ) -> Result<Option<HandoffRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE sender = $1 AND idempotency_key = $2"
        ))
        .bind(sender.to_string())
        .bind(idempotency_key.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(handoff_of).transpose()
    }

    pub async fn handoff(&self, id: &str) -> Result<Option<HandoffRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(handoff_of).transpose()
    }

    /// The receiver has the document (its endpoint answered 2xx): the delivery ends sent and
    /// its payload is erased, the hand-off moves from `sent` to `received`, with the audit
    /// entry and the notice to the sender. `false`, writing nothing, when the delivery is no
    /// longer held by `holder`.
    pub async fn handoff_received(
        &self,
        delivery_id: &str,
        holder: &str,
        handoff_id: &str,
        notice: &NewDelivery,
        entry: &AuditEntryRow,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let outcome = self
            .writer
            .transaction(vec![
                Statement::new(
                    "UPDATE deliveries SET state = 'sent', ended_at = $1, lease_until = NULL, \
                     reason = NULL, sealed_payload = '' \
                     WHERE id = $2 AND state = 'working' AND lease_holder = $3",
                )
                .integer(now)
                .text(delivery_id)
                .text(holder)
                .must_change(),
                Statement::new(
                    "UPDATE handoffs SET state = 'received', received_at = $1 \
                     WHERE id = $2 AND state = 'sent'",
                )
                .integer(now)
                .text(handoff_id),
                delivery_written(handoff_id, notice),
                entry_written(entry),
            ])
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The receiver decides (`accepted` or `declined`): only from `received`, with the audit
    /// entry and the notice to the sender. `false`, writing nothing, when it is not in
    /// `received`.
    pub async fn decide_handoff(
        &self,
        id: &str,
        decision: &str,
        reason: Option<&str>,
        notice: &NewDelivery,
        entry: &AuditEntryRow,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .writer
            .transaction(vec![
                Statement::new(
                    "UPDATE handoffs SET state = $1, decided_at = $2, decision_reason = $3 \
                     WHERE id = $4 AND state = 'received'",
                )
                .text(decision)
                .integer(now_millis())
                .maybe_text(reason.map(str::to_string))
                .text(id)
                .must_change(),
                delivery_written(id, notice),
                entry_written(entry),
            ])
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Hand-offs past their deadline, not yet decided nor escalated, at most `limit`.
    pub async fn overdue_handoffs(&self, limit: i64) -> Result<Vec<HandoffRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE state IN ('sent', 'received') \
             AND escalated_at IS NULL AND respond_by <= $1 ORDER BY respond_by LIMIT $2"
        ))
        .bind(now_millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(handoff_of).collect()
    }

    /// Escalates an overdue hand-off once, with its notices and audit entry; `false` when it
    /// was decided or escalated meanwhile.
    pub async fn escalate_handoff(
        &self,
        id: &str,
        notices: &[NewDelivery],
        entry: &AuditEntryRow,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut statements = vec![
            Statement::new(
                "UPDATE handoffs SET escalated_at = $1 WHERE id = $2 \
                 AND state IN ('sent', 'received') AND escalated_at IS NULL AND respond_by <= $1",
            )
            .integer(now)
            .text(id)
            .must_change(),
        ];
        statements.extend(notices.iter().map(|notice| delivery_written(id, notice)));
        statements.push(entry_written(entry));
        match self.writer.transaction(statements).await {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

fn handoff_of(row: &sqlx::any::AnyRow) -> Result<HandoffRow, StoreError> {
    Ok(HandoffRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        sender: row.try_get("sender")?,
        receiver: row.try_get("receiver")?,
        request_digest: row.try_get("request_digest")?,
        case_id: row.try_get("case_id")?,
        subject_digest: row.try_get("subject_digest")?,
        document_digest: row.try_get("document_digest")?,
        state: row.try_get("state")?,
        respond_by: row.try_get("respond_by")?,
        created_at: row.try_get("created_at")?,
        received_at: row.try_get("received_at")?,
        decided_at: row.try_get("decided_at")?,
        decision_reason: row.try_get("decision_reason")?,
        escalated_at: row.try_get("escalated_at")?,
        document_held: row.try_get::<i64, _>("document_held")? > 0,
    })
}
