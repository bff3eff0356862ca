//! The exchange log: every accepted exchange gets a row when it starts and exactly one
//! terminal state when it ends.

use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::inbound::SeenMessage;
use super::writer::Statement;
use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeStatus {
    InProgress,
    Completed,
    Failed,
}

impl ExchangeStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "in_progress" => Ok(Self::InProgress),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt(format!("unknown status `{other}`"))),
        }
    }
}

/// Who asks whom: the hub a registry, or an agency the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

/// The MConnect message ids of an exchange, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageIds {
    /// The request's `MessageId`.
    pub request: Option<String>,
    /// The answer's `MessageId`.
    pub response: Option<String>,
}

/// What is recorded when an exchange is accepted. Persons appear only as digests.
#[derive(Debug, Clone)]
pub struct NewExchange {
    pub id: uuid::Uuid,
    pub direction: Direction,
    /// The composite exchange this one is a part of.
    pub parent_id: Option<uuid::Uuid>,
    pub client_id: String,
    pub service: String,
    pub legal_basis: String,
    pub reason: String,
    pub case_id: Option<String>,
    pub calling_user_digest: String,
    pub subject_digest: String,
    /// The calling user's and the subject's identifiers, sealed, for MLog (which is entitled
    /// to them); erased once the exchange's audit entry is delivered.
    pub sealed_identifiers: Option<String>,
    pub received_at: OffsetDateTime,
}

/// How an exchange ended.
#[derive(Debug, Clone)]
pub enum ExchangeOutcome {
    Completed {
        request_digest: String,
        response_digest: String,
        /// None for composite exchanges, whose parts carry their own.
        message_ids: MessageIds,
        /// Inbound: the answer fields the agency's grant released.
        fields_released: Option<Vec<String>>,
    },
    Failed {
        error_code: String,
        request_digest: Option<String>,
        response_digest: Option<String>,
        message_ids: MessageIds,
    },
}

impl ExchangeOutcome {
    /// The same exchange failed with `error_code` instead: its digests and message ids stay.
    pub fn as_failed(&self, error_code: &str) -> ExchangeOutcome {
        match self {
            Self::Completed {
                request_digest,
                response_digest,
                message_ids,
                ..
            } => Self::Failed {
                error_code: error_code.to_string(),
                request_digest: Some(request_digest.clone()),
                response_digest: Some(response_digest.clone()),
                message_ids: message_ids.clone(),
            },
            Self::Failed {
                request_digest,
                response_digest,
                message_ids,
                ..
            } => Self::Failed {
                error_code: error_code.to_string(),
                request_digest: request_digest.clone(),
                response_digest: response_digest.clone(),
                message_ids: message_ids.clone(),
            },
        }
    }
}

/// A row of the exchange log.
#[derive(Debug, Clone)]
pub struct ExchangeRecord {
    pub id: uuid::Uuid,
    pub parent_id: Option<String>,
    pub client_id: String,
    pub service: String,
    pub legal_basis: String,
    pub reason: String,
    pub case_id: Option<String>,
    pub calling_user_digest: String,
    pub subject_digest: String,
    pub status: ExchangeStatus,
    pub error_code: Option<String>,
    pub request_digest: Option<String>,
    pub response_digest: Option<String>,
    pub direction: String,
    pub message_ids: MessageIds,
    pub fields_released: Option<Vec<String>>,
    pub received_at: String,
    pub completed_at: Option<String>,
    /// `sync` or `async`.
    pub mode: String,
    pub attempts: i64,
    pub queue_state: Option<String>,
    pub dead_letter_reason: Option<String>,
    /// The canonical result of a completed async exchange, sealed.
    pub sealed_result: Option<String>,
}

/// The columns an outcome sets.
pub(super) struct OutcomeColumns {
    pub status: &'static str,
    pub error_code: Option<String>,
    pub request_digest: Option<String>,
    pub response_digest: Option<String>,
    pub message_ids: MessageIds,
    /// JSON array text.
    pub fields_released: Option<String>,
}

pub(super) fn outcome_columns(outcome: &ExchangeOutcome) -> OutcomeColumns {
    match outcome {
        ExchangeOutcome::Completed {
            request_digest,
            response_digest,
            message_ids,
            fields_released,
        } => OutcomeColumns {
            status: ExchangeStatus::Completed.as_str(),
            error_code: None,
            request_digest: Some(request_digest.clone()),
            response_digest: Some(response_digest.clone()),
            message_ids: message_ids.clone(),
            fields_released: fields_released
                .as_ref()
                .map(|fields| serde_json::Value::from(fields.clone()).to_string()),
        },
        ExchangeOutcome::Failed {
            error_code,
            request_digest,
            response_digest,
            message_ids,
        } => OutcomeColumns {
            status: ExchangeStatus::Failed.as_str(),
            error_code: Some(error_code.clone()),
            request_digest: request_digest.clone(),
            response_digest: response_digest.clone(),
            message_ids: message_ids.clone(),
            fields_released: None,
        },
    }
}

const RECORD_COLUMNS: &str = "id, parent_id, client_id, service, legal_basis, reason, case_id, \
    calling_user_digest, subject_digest, status, error_code, request_digest, response_digest, \
    direction, request_message_id, response_message_id, fields_released, received_at, \
    completed_at, mode, attempts, queue_state, dead_letter_reason, sealed_result";

fn record_of(row: &sqlx::any::AnyRow) -> Result<ExchangeRecord, StoreError> {
    let id_text: String = row.try_get("id")?;
    Ok(ExchangeRecord {
        id: id_text
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("exchange id `{id_text}`")))?,
        parent_id: row.try_get("parent_id")?,
        client_id: row.try_get("client_id")?,
        service: row.try_get("service")?,
        legal_basis: row.try_get("legal_basis")?,
        reason: row.try_get("reason")?,
        case_id: row.try_get("case_id")?,
        calling_user_digest: row.try_get("calling_user_digest")?,
        subject_digest: row.try_get("subject_digest")?,
        status: ExchangeStatus::parse(&row.try_get::<String, _>("status")?)?,
        error_code: row.try_get("error_code")?,
        request_digest: row.try_get("request_digest")?,
        response_digest: row.try_get("response_digest")?,
        direction: row.try_get("direction")?,
        message_ids: MessageIds {
            request: row.try_get("request_message_id")?,
            response: row.try_get("response_message_id")?,
        },
        fields_released: row
            .try_get::<Option<String>, _>("fields_released")?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| StoreError::Corrupt("fields_released".into()))?,
        received_at: row.try_get("received_at")?,
        completed_at: row.try_get("completed_at")?,
        mode: row.try_get("mode")?,
        attempts: row.try_get("attempts")?,
        queue_state: row.try_get("queue_state")?,
        dead_letter_reason: row.try_get("dead_letter_reason")?,
        sealed_result: row.try_get("sealed_result")?,
    })
}

/// A moment as the store writes it: RFC 3339 in UTC.
pub fn timestamp(moment: OffsetDateTime) -> String {
    moment
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("UTC timestamps always format as RFC 3339")
}

impl Statement {
    /// Binds the first eight columns of a new exchange row, as every insert of one lists them:
    /// id, client, service, legal basis, reason, case id and the two digests.
    pub(super) fn bind_first_columns(self, exchange: &NewExchange) -> Self {
        self.text(exchange.id.to_string())
            .text(&exchange.client_id)
            .text(&exchange.service)
            .text(&exchange.legal_basis)
            .text(&exchange.reason)
            .maybe_text(exchange.case_id.clone())
            .text(&exchange.calling_user_digest)
            .text(&exchange.subject_digest)
    }
}

/// How closing an exchange went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The exchange ended as asked, with its audit entry.
    Closed,
    /// It had already ended: nothing was written, and an exchange never ends twice.
    AlreadyClosed,
    /// The registry's answer carried a message id its signer had used before: nothing was
    /// written, and the exchange is still in progress, to be closed as failed.
    Replayed,
}

impl Store {
    /// Ends exchange `id` with `ending` (its close and its audit entry, from
    /// [`super::audit::closed_with_entry`]) in one transaction that, given the registry's
    /// `answer`, first records its message id in the replay cache: a replayed answer and the
    /// end it would have made are refused together, and an answer is never released without
    /// its id recorded.
    pub(super) async fn end_exchange(
        &self,
        id: uuid::Uuid,
        ending: Vec<Statement>,
        answer: Option<&SeenMessage>,
    ) -> Result<Closing, StoreError> {
        let mut statements = answer
            .map(|seen| self.remembering(seen, true))
            .unwrap_or_default();
        statements.extend(ending);
        match self.writer.transaction(statements).await {
            Ok(_) => Ok(Closing::Closed),
            // Either the answer's id was seen before or the exchange had ended: its row tells.
            Err(StoreError::Unchanged) if answer.is_some() => {
                match self.exchange(id).await?.map(|record| record.status) {
                    Some(ExchangeStatus::InProgress) => Ok(Closing::Replayed),
                    _ => Ok(Closing::AlreadyClosed),
                }
            }
            Err(StoreError::Unchanged) => Ok(Closing::AlreadyClosed),
            Err(error) => Err(error),
        }
    }
}

impl Store {
    /// Records an accepted exchange as in progress.
    pub async fn begin_exchange(&self, exchange: &NewExchange) -> Result<(), StoreError> {
        self.writer
            .execute(
                Statement::new(
                    "INSERT INTO exchanges (id, client_id, service, legal_basis, reason, case_id, \
                     calling_user_digest, subject_digest, status, received_at, parent_id, \
                     direction, sealed_identifiers) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind_first_columns(exchange)
                .text(ExchangeStatus::InProgress.as_str())
                .text(timestamp(exchange.received_at))
                .maybe_text(exchange.parent_id.map(|id| id.to_string()))
                .text(exchange.direction.as_str())
                .maybe_text(exchange.sealed_identifiers.clone()),
            )
            .await?;
        Ok(())
    }

    /// Moves an in-progress exchange to its terminal state and writes its audit entry, in one
    /// transaction that also records the registry's `answer` in the replay cache (see
    /// [`Closing`]).
    pub async fn finish_exchange(
        &self,
        id: uuid::Uuid,
        outcome: &ExchangeOutcome,
        answer: Option<&SeenMessage>,
        completed_at: OffsetDateTime,
    ) -> Result<Closing, StoreError> {
        let columns = outcome_columns(outcome);
        let completed_at = timestamp(completed_at);
        let ending = super::audit::Ending {
            completed_at: &completed_at,
            status: columns.status,
            error_code: columns.error_code.as_deref(),
            fields_released: Some(columns.fields_released.as_deref()),
            request_digest: Some(columns.request_digest.as_deref()),
            response_digest: Some(columns.response_digest.as_deref()),
        };
        let close = Statement::new(
            "UPDATE exchanges SET status = $1, error_code = $2, request_digest = $3, \
                     response_digest = $4, request_message_id = $5, response_message_id = $6, \
                     fields_released = $7, completed_at = $8, sealed_identifiers = NULL \
                     WHERE id = $9 AND status = 'in_progress'",
        )
        .text(columns.status)
        .maybe_text(columns.error_code.clone())
        .maybe_text(columns.request_digest.clone())
        .maybe_text(columns.response_digest.clone())
        .maybe_text(columns.message_ids.request.clone())
        .maybe_text(columns.message_ids.response.clone())
        .maybe_text(columns.fields_released.clone())
        .text(&completed_at)
        .text(id.to_string())
        .must_change();
        self.end_exchange(
            id,
            super::audit::closed_with_entry(close, id, &ending),
            answer,
        )
        .await
    }

    /// Fails every synchronous exchange left in progress by a previous process (a crash or
    /// kill): its caller has lost the connection, so it still gets a terminal state. Async
    /// exchanges are not touched; their workers pick them up again. Returns how many closed.
    pub async fn fail_interrupted_exchanges(&self) -> Result<u64, StoreError> {
        let now = timestamp(OffsetDateTime::now_utc());
        let changed = self
            .writer
            .transaction(vec![
                super::audit::interrupted_exchanges_entries(&now),
                Statement::new(
                    "UPDATE exchanges SET status = 'failed', error_code = 'hub.interrupted', \
                     completed_at = $1, sealed_identifiers = NULL \
                     WHERE status = 'in_progress' AND mode = 'sync'",
                )
                .text(now),
            ])
            .await?;
        Ok(changed[1])
    }

    pub async fn exchange(&self, id: uuid::Uuid) -> Result<Option<ExchangeRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM exchanges WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(record_of).transpose()
    }

    /// The inbound exchanges (agencies asking eSocial), oldest first.
    pub async fn inbound_exchanges(&self) -> Result<Vec<ExchangeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM exchanges WHERE direction = 'inbound' \
             ORDER BY received_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_of).collect()
    }

    /// The parts of a composite exchange.
    pub async fn children_of(&self, parent: uuid::Uuid) -> Result<Vec<uuid::Uuid>, StoreError> {
        let rows = sqlx::query("SELECT id FROM exchanges WHERE parent_id = $1 ORDER BY service")
            .bind(parent.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("id")?;
                text.parse()
                    .map_err(|_| StoreError::Corrupt(format!("exchange id `{text}`")))
            })
            .collect()
    }

    /// Number of exchanges in each status, for metrics and tests.
    pub async fn count_by_status(&self, status: ExchangeStatus) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM exchanges WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
