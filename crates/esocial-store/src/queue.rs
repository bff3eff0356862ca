//! Asynchronous exchanges in the store, which is the durable queue's source of truth: each
//! async exchange in progress is work to do, claimed by one worker at a time under a lease,
//! retried later after a retryable failure, and ended exactly once.

use sqlx::Row;
use time::OffsetDateTime;

use super::exchanges::Closing;
use super::exchanges::timestamp;
use super::inbound::SeenMessage;
use super::writer::{Kind, Statement, Value};
use super::{ExchangeOutcome, NewExchange, Store, StoreError};

/// Milliseconds since the Unix epoch, the unit of the queue columns.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An async exchange as accepted: the log row plus its sealed request.
#[derive(Debug, Clone)]
pub struct NewAsyncExchange {
    pub exchange: NewExchange,
    pub registry: String,
    pub idempotency_key: Option<String>,
    /// Digest of the submission, to tell a repeat from a conflicting reuse of the key.
    pub submission_digest: String,
    pub sealed_request: String,
    /// Where to announce completion (one of the client's registered URLs).
    pub callback_url: Option<String>,
    /// A worker of this hub that waits for it: the exchange is stored already taken, its
    /// first attempt counted, as a claim would leave it; `None` queues it.
    pub taken: Option<Lease>,
}

/// Who holds an exchange, and until when (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until: i64,
}

/// What submitting produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    Accepted,
    /// The idempotency key was used before: the earlier exchange, and whether the submission
    /// was the same.
    Repeated {
        id: uuid::Uuid,
        same: bool,
    },
}

/// A claimed piece of work.
#[derive(Debug, Clone)]
pub struct ClaimedExchange {
    pub id: uuid::Uuid,
    pub client_id: String,
    pub service: String,
    pub attempts: i64,
    pub sealed_request: String,
    pub received_at: String,
}

/// An exchange to (re)publish to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueExchange {
    pub id: uuid::Uuid,
    pub registry: String,
}

fn parse_id(text: &str) -> Result<uuid::Uuid, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("exchange id `{text}`")))
}

/// The queue states a worker may take: queued, a retry that is due, or work whose lease ran
/// out (its worker died). An exchange that ended has none.
macro_rules! takeable {
    () => {
        "(queue_state = 'queued' \
         OR (queue_state = 'waiting' AND available_at <= $1) \
         OR (queue_state = 'working' AND lease_until < $1))"
    };
}
const TAKEABLE: &str = takeable!();
/// Rows a worker may take now. `queue_state IS NOT NULL` lets the queue's partial index serve
/// it.
const CLAIMABLE: &str = concat!(
    "queue_state IS NOT NULL AND status = 'in_progress' AND mode = 'async' AND ",
    takeable!()
);

/// What a claim returns of each exchange it took, and the kinds of those columns.
const CLAIMED: &str = "id, client_id, service, attempts, sealed_request, received_at";
const CLAIMED_KINDS: &[Kind] = &[
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Integer,
    Kind::Text,
    Kind::Text,
];

/// A claimed exchange from a row of [`CLAIMED`].
fn claimed_exchange(row: Vec<Value>) -> Result<ClaimedExchange, StoreError> {
    let [
        id,
        client_id,
        service,
        attempts,
        sealed_request,
        received_at,
    ] = <[Value; 6]>::try_from(row)
        .map_err(|_| StoreError::Corrupt("a claim returned another row shape".into()))?;
    let missing = |column: &str| StoreError::Corrupt(format!("async exchange without {column}"));
    Ok(ClaimedExchange {
        id: parse_id(&id.into_text().ok_or_else(|| missing("id"))?)?,
        client_id: client_id.into_text().ok_or_else(|| missing("client"))?,
        service: service.into_text().ok_or_else(|| missing("service"))?,
        attempts: attempts.into_integer().ok_or_else(|| missing("attempts"))?,
        sealed_request: sealed_request
            .into_text()
            .ok_or_else(|| missing("request"))?,
        received_at: received_at
            .into_text()
            .ok_or_else(|| missing("receipt time"))?,
    })
}

impl Store {
    /// Records an accepted async exchange, ready for a worker. With an idempotency key that
    /// was used before, nothing is written and the earlier exchange is returned: the insert
    /// meets the key's unique index, and only then is the earlier exchange read.
    pub async fn submit_async(
        &self,
        submission: &NewAsyncExchange,
    ) -> Result<Submission, StoreError> {
        let exchange = &submission.exchange;
        let now = now_millis();
        let inserted = self
            .writer
            .execute(
                Statement::new(
                    "INSERT INTO exchanges (id, client_id, service, legal_basis, reason, case_id, \
                     calling_user_digest, subject_digest, status, received_at, parent_id, mode, \
                     registry, queue_state, attempts, available_at, enqueued_at, idempotency_key, \
                     submission_digest, sealed_request, callback_url, sealed_identifiers, \
                     lease_until, lease_holder) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'in_progress', $9, $10, 'async', $11, \
                     $12, $13, $14, $14, $15, $16, $17, $18, $19, $20, $21)",
                )
                .bind_first_columns(exchange)
                .text(timestamp(exchange.received_at))
                .maybe_text(exchange.parent_id.map(|id| id.to_string()))
                .text(&submission.registry)
                .text(match submission.taken {
                    Some(_) => "working",
                    None => "queued",
                })
                .integer(i64::from(submission.taken.is_some()))
                .integer(now)
                .maybe_text(submission.idempotency_key.clone())
                .text(&submission.submission_digest)
                .text(&submission.sealed_request)
                .maybe_text(submission.callback_url.clone())
                .maybe_text(exchange.sealed_identifiers.clone())
                .maybe_integer(submission.taken.as_ref().map(|lease| lease.until))
                .maybe_text(submission.taken.as_ref().map(|lease| lease.holder.clone())),
            )
            .await;
        match inserted {
            Ok(_) => Ok(Submission::Accepted),
            // The key was used before, or two submissions with one key raced: the earlier
            // one answers.
            Err(error) => match self.find_by_idempotency_key(submission).await? {
                Some(previous) => Ok(previous),
                None => Err(error),
            },
        }
    }

    async fn find_by_idempotency_key(
        &self,
        submission: &NewAsyncExchange,
    ) -> Result<Option<Submission>, StoreError> {
        let Some(key) = &submission.idempotency_key else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT id, submission_digest FROM exchanges WHERE client_id = $1 AND idempotency_key = $2",
        )
        .bind(&submission.exchange.client_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        let digest: Option<String> = row.try_get("submission_digest")?;
        Ok(Some(Submission::Repeated {
            id: parse_id(&id)?,
            same: digest.as_deref() == Some(submission.submission_digest.as_str()),
        }))
    }

    /// Takes up to `limit` async exchanges of `registry` that a worker may take now, oldest
    /// due first, for `lease_ms` on behalf of hub instance `holder`, counting one more attempt
    /// of each.
    pub async fn claim_due(
        &self,
        registry: &str,
        limit: i64,
        lease_ms: i64,
        holder: &str,
    ) -> Result<Vec<ClaimedExchange>, StoreError> {
        let due = format!(
            "id IN (SELECT id FROM exchanges WHERE registry = $4 AND {CLAIMABLE} \
             ORDER BY available_at LIMIT $5)"
        );
        self.take(&due, lease_ms, holder, |take| {
            take.text(registry).integer(limit)
        })
        .await
    }

    /// Takes an exchange for `lease_ms` on behalf of hub instance `holder`, counting one more
    /// attempt. `None` when it is not claimable (ended, or another worker holds it).
    pub async fn claim(
        &self,
        id: uuid::Uuid,
        lease_ms: i64,
        holder: &str,
    ) -> Result<Option<ClaimedExchange>, StoreError> {
        let which = format!("id = $4 AND {CLAIMABLE}");
        let taken = self
            .take(&which, lease_ms, holder, |take| take.text(id.to_string()))
            .await?;
        Ok(taken.into_iter().next())
    }

    /// Takes the exchanges `which` selects (its arguments, from `$4` on, bound by `bind`) that
    /// are still to be taken, for `lease_ms` on behalf of `holder`, counting one more attempt
    /// of each, and returns them: one statement, which reads and takes them together. An
    /// exchange another hub took meanwhile, or that ended, no longer has a takeable state, so
    /// it is not taken twice; the condition holds no index, so the exchanges are found by id.
    async fn take(
        &self,
        which: &str,
        lease_ms: i64,
        holder: &str,
        bind: impl FnOnce(Statement) -> Statement,
    ) -> Result<Vec<ClaimedExchange>, StoreError> {
        let now = now_millis();
        let take = Statement::new(format!(
            "UPDATE exchanges SET queue_state = 'working', lease_until = $2, \
             attempts = attempts + 1, lease_holder = $3 WHERE {which} AND {TAKEABLE} \
             RETURNING {CLAIMED}"
        ))
        .integer(now)
        .integer(now + lease_ms)
        .text(holder)
        // A lease need not survive a power cut: a hub that restarts reclaims its own leases.
        .durable_with_next_sync();
        let rows = self
            .writer
            .fetch(bind(take).returning(CLAIMED_KINDS))
            .await?;
        rows.into_iter().map(claimed_exchange).collect()
    }

    /// Puts claimed work back to wait until `available_at` after a retryable failure.
    pub async fn retry_later(
        &self,
        id: uuid::Uuid,
        available_at: i64,
        error_code: &str,
    ) -> Result<bool, StoreError> {
        let waiting = self
            .writer
            .execute(
                Statement::new(
                    "UPDATE exchanges SET queue_state = 'waiting', available_at = $1, \
                     lease_until = NULL, error_code = $2 \
                     WHERE id = $3 AND status = 'in_progress' AND queue_state = 'working'",
                )
                .integer(available_at)
                .text(error_code)
                .text(id.to_string()),
            )
            .await?;
        Ok(waiting == 1)
    }

    /// Hands back, as queued, the exchanges a previous run of hub instance `holder` was working
    /// on when it stopped (a crash or a kill): their workers are gone, so there is no reason to
    /// wait for the leases to run out. Returns how many.
    pub async fn reclaim_leases(&self, holder: &str) -> Result<u64, StoreError> {
        self.writer
            .execute(
                Statement::new(
                    "UPDATE exchanges SET queue_state = 'queued', lease_until = NULL, \
                     lease_holder = NULL WHERE status = 'in_progress' AND mode = 'async' \
                     AND queue_state = 'working' AND lease_holder = $1",
                )
                .text(holder),
            )
            .await
    }

    /// Ends a submission the queue did not confirm: failed with `hub.queue_unavailable`, and its
    /// `Idempotency-Key` released in the same statement, so that a retry with the same key is a
    /// new submission rather than the repeat of one that will never run. Only while no worker
    /// has taken it: `false` means a worker has (the broker had the message after all) or it
    /// has ended, and it stays accepted.
    pub async fn refuse_submission(&self, id: uuid::Uuid) -> Result<bool, StoreError> {
        let completed_at = timestamp(OffsetDateTime::now_utc());
        let ending = super::audit::Ending {
            completed_at: &completed_at,
            status: "failed",
            error_code: Some("hub.queue_unavailable"),
            fields_released: None,
            request_digest: None,
            response_digest: None,
        };
        let refuse = Statement::new(
            "UPDATE exchanges SET status = $3, error_code = $4, \
                     completed_at = $1, queue_state = NULL, idempotency_key = NULL, \
                     sealed_identifiers = NULL \
                     WHERE id = $2 AND status = 'in_progress' AND queue_state = 'queued' \
                     AND attempts = 0",
        )
        .text(&completed_at)
        .text(id.to_string())
        .text(ending.status)
        .maybe_text(ending.error_code)
        .must_change();
        let ending = super::audit::closed_with_entry(refuse, id, &ending);
        Ok(self.end_exchange(id, ending, None).await? == Closing::Closed)
    }

    /// Ends an async exchange: completed with its sealed result, failed, or dead-lettered
    /// (failed with a reason after its last attempt), with its audit entry, recording the
    /// registry's `answer` in the replay cache in the same transaction (see [`Closing`]).
    pub async fn finish_async(
        &self,
        id: uuid::Uuid,
        outcome: &ExchangeOutcome,
        sealed_result: Option<&str>,
        dead_letter_reason: Option<&str>,
        answer: Option<&SeenMessage>,
    ) -> Result<Closing, StoreError> {
        let columns = super::exchanges::outcome_columns(outcome);
        let completed_at = timestamp(OffsetDateTime::now_utc());
        let ending = super::audit::Ending {
            completed_at: &completed_at,
            status: columns.status,
            error_code: columns.error_code.as_deref(),
            fields_released: None,
            request_digest: Some(columns.request_digest.as_deref()),
            response_digest: Some(columns.response_digest.as_deref()),
        };
        // One transaction, so the exchange is either still in progress or ended with its audit
        // entry, never between.
        let close = Statement::new(
            "UPDATE exchanges SET status = $1, error_code = $2, request_digest = $3, \
                     response_digest = $4, response_message_id = $5, completed_at = $6, \
                     queue_state = NULL, lease_until = NULL, sealed_result = $7, \
                     dead_letter_reason = $8, \
                     callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, \
                     callback_due = $10, request_message_id = $11, \
                     sealed_identifiers = NULL \
                     WHERE id = $9 AND status = 'in_progress'",
        )
        .text(columns.status)
        .maybe_text(columns.error_code.clone())
        .maybe_text(columns.request_digest.clone())
        .maybe_text(columns.response_digest.clone())
        .maybe_text(columns.message_ids.response.clone())
        .text(&completed_at)
        .maybe_text(sealed_result)
        .maybe_text(dead_letter_reason)
        .text(id.to_string())
        .integer(now_millis())
        .maybe_text(columns.message_ids.request.clone())
        .must_change();
        self.end_exchange(
            id,
            super::audit::closed_with_entry(close, id, &ending),
            answer,
        )
        .await
    }

    /// Async exchanges to hand to the broker: retries that are due, work whose lease ran out,
    /// and queued work whose message may have been lost (enqueued more than `stale_ms` ago).
    pub async fn due_for_publish(&self, stale_ms: i64) -> Result<Vec<DueExchange>, StoreError> {
        let now = now_millis();
        let rows = sqlx::query(
            "SELECT id, registry FROM exchanges WHERE status = 'in_progress' AND mode = 'async' AND (\
             (queue_state = 'waiting' AND available_at <= $1) \
             OR (queue_state = 'working' AND lease_until < $1) \
             OR (queue_state = 'queued' AND enqueued_at < $2)) \
             ORDER BY available_at LIMIT 500",
        )
        .bind(now)
        .bind(now - stale_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueExchange {
                    id: parse_id(&row.try_get::<String, _>("id")?)?,
                    registry: row.try_get("registry")?,
                })
            })
            .collect()
    }

    /// Notes that a message for the exchange is in the broker.
    pub async fn mark_enqueued(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        let now = now_millis();
        self.writer
            .execute(
                Statement::new(
                    "UPDATE exchanges SET queue_state = 'queued', enqueued_at = $1, \
                     lease_until = NULL WHERE id = $2 AND status = 'in_progress' \
                     AND mode = 'async' AND (queue_state = 'queued' \
                     OR (queue_state = 'waiting' AND available_at <= $1) \
                     OR (queue_state = 'working' AND lease_until < $1))",
                )
                .integer(now)
                .text(id.to_string()),
            )
            .await?;
        Ok(())
    }

    /// Dead-lettered exchanges, newest first.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<uuid::Uuid>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM exchanges WHERE dead_letter_reason IS NOT NULL \
             ORDER BY completed_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>("id")?))
            .collect()
    }

    /// Starts a new async exchange from a dead-lettered one, keeping the lineage in
    /// `parent_id`, and audits the operator's action (`operator.replay`); returns it with its
    /// registry, to publish it to. `None` if `original` is not dead-lettered.
    pub async fn replay(
        &self,
        original: uuid::Uuid,
        operator: &str,
    ) -> Result<Option<DueExchange>, StoreError> {
        let replay = uuid::Uuid::now_v7();
        let now = now_millis();
        let received_at = timestamp(OffsetDateTime::now_utc());
        let insert = Statement::new(
            "INSERT INTO exchanges (id, client_id, service, legal_basis, reason, case_id, \
                     calling_user_digest, subject_digest, status, received_at, parent_id, mode, \
                     registry, queue_state, attempts, available_at, enqueued_at, \
                     submission_digest, sealed_request, sealed_identifiers) \
                     SELECT $1, e.client_id, e.service, e.legal_basis, e.reason, e.case_id, \
                     e.calling_user_digest, e.subject_digest, 'in_progress', $2, e.id, 'async', \
                     e.registry, 'queued', 0, $3, $3, e.submission_digest, e.sealed_request, \
                     (SELECT a.sealed_identifiers FROM audit_log a WHERE a.entry_id = e.id) \
                     FROM exchanges e \
                     WHERE e.id = $4 AND e.dead_letter_reason IS NOT NULL \
                     AND e.sealed_request IS NOT NULL",
        )
        .text(replay.to_string())
        .text(&received_at)
        .integer(now)
        .text(original.to_string())
        .must_change();
        // The operator's action is audited with it, in the same transaction.
        let audit = Statement::new(
            "INSERT INTO audit_log (entry_id, kind, recorded_at, exchange_id, client_id, \
             service, legal_basis, reason, case_id, calling_user_digest, subject_digest, \
             outcome) \
             SELECT $1, 'operator.replay', $2, id, $3, service, legal_basis, reason, case_id, \
             calling_user_digest, subject_digest, 'ok' FROM exchanges WHERE id = $4",
        )
        .text(uuid::Uuid::now_v7().to_string())
        .text(&received_at)
        .text(operator)
        .text(original.to_string())
        .must_change();
        match self.writer.transaction(vec![insert, audit]).await {
            Ok(_) => {}
            Err(StoreError::Unchanged) => return Ok(None),
            Err(error) => return Err(error),
        }
        let row = sqlx::query("SELECT registry FROM exchanges WHERE id = $1")
            .bind(replay.to_string())
            .fetch_one(self.pool())
            .await?;
        Ok(Some(DueExchange {
            id: replay,
            registry: row
                .try_get::<Option<String>, _>("registry")?
                .ok_or_else(|| StoreError::Corrupt("async exchange without registry".into()))?,
        }))
    }

    /// Callbacks due now: exchange id, client and URL.
    pub async fn due_callbacks(
        &self,
        limit: i64,
    ) -> Result<Vec<(uuid::Uuid, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client_id, callback_url, callback_attempts FROM exchanges \
             WHERE callback_state = 'pending' AND callback_due <= $1 ORDER BY callback_due LIMIT $2",
        )
        .bind(now_millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.try_get::<String, _>("id")?)?,
                    row.try_get("client_id")?,
                    row.try_get("callback_url")?,
                    row.try_get("callback_attempts")?,
                ))
            })
            .collect()
    }

    /// Records a callback delivery attempt: delivered, due again at `retry_at`, or given up.
    pub async fn record_callback(
        &self,
        id: uuid::Uuid,
        delivered: bool,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let state = match (delivered, retry_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        self.writer
            .execute(
                Statement::new(
                    "UPDATE exchanges SET callback_state = $1, callback_due = $2, \
                     callback_attempts = callback_attempts + 1 \
                     WHERE id = $3 AND callback_state = 'pending'",
                )
                .text(state)
                .maybe_integer(retry_at)
                .text(id.to_string()),
            )
            .await?;
        Ok(())
    }

    /// The callback state of an exchange: (state, attempts).
    pub async fn callback_state(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row =
            sqlx::query("SELECT callback_state, callback_attempts FROM exchanges WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: Option<String> = row.try_get("callback_state")?;
        Ok(state.map(|s| (s, row.try_get("callback_attempts").unwrap_or_default())))
    }

    /// Async exchanges in progress by registry and queue state, for metrics.
    pub async fn queue_depths(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT registry, queue_state, COUNT(*) AS n FROM exchanges \
             WHERE status = 'in_progress' AND mode = 'async' GROUP BY registry, queue_state",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<Option<String>, _>("registry")?
                        .unwrap_or_default(),
                    row.try_get::<Option<String>, _>("queue_state")?
                        .unwrap_or_default(),
                    row.try_get("n")?,
                ))
            })
            .collect()
    }
}
