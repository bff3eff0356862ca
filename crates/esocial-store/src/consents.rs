//! Consents to pre-fill a benefits estimate from registry data. Each is recorded, and
//! withdrawn, together with its audit entry, in one transaction.

use sqlx::Row as _;

use super::audit::{AuditEntryRow, entry_written};
use super::writer::Statement;
use super::{Store, StoreError};

/// A recorded consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: String,
    /// The client that recorded it, and alone may use it.
    pub client_id: String,
    pub subject_digest: String,
    pub purpose: String,
    pub legal_basis: String,
    /// What proves it (a form's number, a signed document's id).
    pub evidence: String,
    pub given_at: String,
    pub expires_at: String,
    pub recorded_at: String,
    pub withdrawn_at: Option<String>,
}

impl Store {
    /// Records a consent and its audit entry, all or nothing.
    pub async fn record_consent(
        &self,
        consent: &ConsentRow,
        entry: &AuditEntryRow,
    ) -> Result<(), StoreError> {
        self.writer
            .transaction(vec![
                Statement::new(
                    "INSERT INTO benefit_consents (id, client_id, subject_digest, purpose, \
                     legal_basis, evidence, given_at, expires_at, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .text(&consent.id)
                .text(&consent.client_id)
                .text(&consent.subject_digest)
                .text(&consent.purpose)
                .text(&consent.legal_basis)
                .text(&consent.evidence)
                .text(&consent.given_at)
                .text(&consent.expires_at)
                .text(&consent.recorded_at),
                entry_written(entry),
            ])
            .await?;
        Ok(())
    }

    /// Withdraws a consent the client recorded, with its audit entry; `false`, changing
    /// nothing, when the client recorded no such consent or it was withdrawn already.
    pub async fn withdraw_consent(
        &self,
        id: &str,
        client_id: &str,
        withdrawn_at: &str,
        entry: &AuditEntryRow,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .writer
            .transaction(vec![
                Statement::new(
                    "UPDATE benefit_consents SET withdrawn_at = $1 \
                     WHERE id = $2 AND client_id = $3 AND withdrawn_at IS NULL",
                )
                .text(withdrawn_at)
                .text(id)
                .text(client_id)
                .must_change(),
                entry_written(entry),
            ])
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(StoreError::Unchanged) => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub async fn consent(&self, id: &str) -> Result<Option<ConsentRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, client_id, subject_digest, purpose, legal_basis, evidence, given_at, \
             expires_at, recorded_at, withdrawn_at FROM benefit_consents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(ConsentRow {
                id: row.try_get("id")?,
                client_id: row.try_get("client_id")?,
                subject_digest: row.try_get("subject_digest")?,
                purpose: row.try_get("purpose")?,
                legal_basis: row.try_get("legal_basis")?,
                evidence: row.try_get("evidence")?,
                given_at: row.try_get("given_at")?,
                expires_at: row.try_get("expires_at")?,
                recorded_at: row.try_get("recorded_at")?,
                withdrawn_at: row.try_get("withdrawn_at")?,
            })
        })
        .transpose()
    }
}
