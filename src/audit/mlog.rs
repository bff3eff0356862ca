//! Delivery of the audit log to MLog, the government audit log (HG 708/2014). The log itself
//! is the outbox: entries go in sequence order, in batches of newline-delimited JSON events
//! signed as one compact JWS, over mTLS to `POST {url}/register`. The position MLog has
//! acknowledged moves only after a 2xx, so an entry is never skipped; a batch whose
//! acknowledgement was lost is sent again with the same `event_id`s, which MLog registers once.
//! The identifiers MLog is entitled to (the calling user's and the subject's IDNP) travel
//! sealed in the entry until then, and are erased once MLog has them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use esocial_store::{MlogPending, Store};
use esocial_wire::crypto::jws::{self, JwsSigner};
use esocial_wire::crypto::sealing::Sealer;
use esocial_wire::crypto::tls::{ClientPem, mutual_tls_client};
use serde_json::{Value, json};
use tracing::{info, warn};

/// Where MLog is and how to talk to it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlogSettings {
    /// Base URL; batches go to `{url}/register`.
    pub url: String,
    /// Events per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// How often the hub looks for new entries when MLog is caught up.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Longest wait for MLog's answer to one batch.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_batch_size() -> u32 {
    200
}

fn default_interval_ms() -> u64 {
    1000
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Longest pause between attempts while MLog is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct MlogDelivery {
    store: Store,
    http: reqwest::Client,
    register_url: String,
    signer: JwsSigner,
    sealer: Sealer,
    /// Client or agency name → its organisation's IDNO (`legal_entity`).
    entities: HashMap<String, String>,
    batch_size: i64,
    interval: Duration,
}

impl MlogDelivery {
    pub fn new(
        settings: &MlogSettings,
        store: Store,
        tls: ClientPem<'_>,
        sealer: Sealer,
        entities: HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            http: mutual_tls_client(tls, Duration::from_millis(settings.timeout_ms))?,
            register_url: format!("{}/register", settings.url.trim_end_matches('/')),
            signer: JwsSigner::from_pem(tls.key_pem, tls.certificate_pem)?,
            sealer,
            entities,
            batch_size: i64::from(settings.batch_size),
            interval: Duration::from_millis(settings.interval_ms),
        })
    }

    /// Sends the next batch; how many entries MLog acknowledged (0 when caught up).
    pub async fn deliver_once(&self) -> anyhow::Result<usize> {
        let from = self.store.mlog_delivered().await?;
        let batch = self.store.mlog_pending(from, self.batch_size).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let mut body = String::new();
        for (offset, pending) in batch.iter().enumerate() {
            if pending.entry.seq != from + offset as i64 {
                bail!(
                    "the audit log has no entry {} to deliver; run `audit verify`",
                    from + offset as i64
                );
            }
            body.push_str(&self.event_of(pending).to_string());
            body.push('\n');
        }
        let signed = jws::sign_compact(
            body.as_bytes(),
            &self.signer,
            SystemTime::now(),
            Duration::from_secs(300),
        )?;
        let response = self
            .http
            .post(&self.register_url)
            .header("Content-Type", "application/jose")
            .body(signed)
            .send()
            .await
            .context("MLog cannot be reached")?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            bail!("MLog refused the batch with {status}: {detail}");
        }
        let to = from + batch.len() as i64;
        self.store.mlog_acknowledged(from, to).await?;
        Ok(batch.len())
    }

    /// The MLog event of an entry.
    fn event_of(&self, pending: &MlogPending) -> Value {
        let row = &pending.entry.row;
        let identifiers: Value = pending
            .sealed_identifiers
            .as_deref()
            .and_then(|sealed| self.sealer.open(sealed).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or(Value::Null);
        // What kind of processing of personal data the entry records, in MLog's terms.
        let event_type = match row.kind.as_str() {
            "exchange.inbound" => "eSocial.PersonalData.Transfer",
            "mpi.match" => "eSocial.PersonalData.Search",
            kind if kind.starts_with("mpi.change.") => "eSocial.PersonalData.Validate",
            _ => "eSocial.PersonalData.Access",
        };
        let completed = matches!(row.outcome.as_str(), "completed" | "ok");
        let service = row.service.as_deref().unwrap_or_default();
        json!({
            "event_time": row.recorded_at,
            "event_type": event_type,
            "event_id": row.entry_id,
            "event_correlation": row.exchange_id,
            "event_level": if completed { "info" } else { "warning" },
            "event_source": "esocial-hub",
            "event_message": format!(
                "{}{}{} {}{}",
                row.kind,
                if service.is_empty() { "" } else { " " },
                service,
                row.outcome,
                row.error_code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default()
            ),
            "legal_entity": row.client_id.as_deref().and_then(|c| self.entities.get(c)),
            "legal_basis": row.legal_basis,
            "legal_reason": row.reason,
            "user": identifiers.get("user").cloned().unwrap_or_else(|| json!(row.calling_user_digest)),
            "subject": {
                "_type": "Person",
                "_name": identifiers.get("subject").cloned().unwrap_or_else(|| json!(row.subject_digest)),
            },
            "object": {
                "_type": "Service",
                "_name": service,
                "case_id": row.case_id,
                "fields_released": row.fields_released,
                "audit_seq": pending.entry.seq,
                "audit_digest": pending.entry.entry_digest,
            },
        })
    }

    /// Delivers until caught up, then waits `interval`; while MLog is unreachable or refuses,
    /// waits longer each time (up to 30 s). Until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = self.interval;
            loop {
                match self.deliver_once().await {
                    Ok(0) => {
                        backoff = self.interval;
                        tokio::time::sleep(self.interval).await;
                    }
                    Ok(delivered) => {
                        backoff = self.interval;
                        info!(delivered, "audit entries delivered to MLog");
                    }
                    Err(error) => {
                        warn!(error = %format!("{error:#}"), retry_in_ms = backoff.as_millis() as u64, "MLog delivery failed; the entries wait");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        })
    }
}
