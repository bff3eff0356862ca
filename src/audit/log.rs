//! The hub's side of the audit log: it gives pending entries their place (sequence number,
//! digest, seal) and moves the log's head, then signs checkpoints at an interval and on
//! shutdown. Entries themselves are written by the store, in the transaction of what they
//! record.

use std::sync::Arc;
use std::time::Duration;

use esocial_store::{AuditHead, AuditNode, AuditPlacement, Store};
use esocial_wire::crypto::wssec::SigningIdentity;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use super::checkpoint::Checkpoint;
use super::entry::{AuditSealer, canonical, digest_of};
use super::tree::Frontier;

/// Entries placed per transaction.
const PLACE_BATCH: i64 = 512;

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    sealer: AuditSealer,
    identity: Arc<SigningIdentity>,
}

/// Keeps the digest of the access matrix (clients, grants, agencies, their grants,
/// master-index roles) the hub starts with and, when it differs from the one the hub last
/// started with, writes an `operator.grants` entry (the new digest and the one it replaces) in
/// the same transaction: grants change in the settings, and each change is audited before the
/// hub serves anyone. The first start records the digest only. Whether it changed; an entry
/// that cannot be written stops the start.
pub async fn record_access_matrix(store: &Store, digest: &str) -> anyhow::Result<bool> {
    let previous = store.access_matrix_digest().await?;
    match previous {
        Some(previous) if previous == digest => Ok(false),
        None => {
            store.record_access_matrix(digest, None).await?;
            Ok(false)
        }
        Some(previous) => {
            let change = esocial_store::AuditEntryRow {
                entry_id: uuid::Uuid::now_v7().to_string(),
                kind: "operator.grants".into(),
                recorded_at: esocial_store::timestamp(OffsetDateTime::now_utc()),
                exchange_id: None,
                client_id: Some("operator:settings".into()),
                service: None,
                legal_basis: None,
                reason: Some("the access matrix changed since the hub last started".into()),
                case_id: None,
                calling_user_digest: None,
                subject_digest: None,
                person_id: None,
                outcome: "ok".into(),
                error_code: None,
                fields_released: None,
                request_digest: Some(digest.to_string()),
                response_digest: Some(previous),
            };
            store.record_access_matrix(digest, Some(&change)).await?;
            Ok(true)
        }
    }
}

impl AuditLog {
    pub fn new(store: Store, sealer: AuditSealer, identity: Arc<SigningIdentity>) -> Self {
        Self {
            store,
            sealer,
            identity,
        }
    }

    /// Places every pending entry, in batches; how many it placed. When another instance of
    /// the hub moved the head first, this one reads it again and goes on.
    pub async fn place_pending(&self) -> anyhow::Result<u64> {
        let mut placed = 0;
        loop {
            let pending = self.store.pending_audit_entries(PLACE_BATCH).await?;
            if pending.is_empty() {
                return Ok(placed);
            }
            let from = self.store.audit_head().await?;
            let mut frontier = Frontier::decode(u64::try_from(from.size)?, &from.frontier)?;
            let mut completed = Vec::new();
            let placements: Vec<AuditPlacement> = pending
                .iter()
                .map(|row| {
                    let digest = digest_of(&canonical(row));
                    let seq = frontier.size();
                    frontier.push_completing(&digest, |level, index, hash| {
                        completed.push(AuditNode {
                            level: i64::from(level),
                            index: index as i64,
                            hash: hex::encode(hash),
                        });
                    });
                    AuditPlacement {
                        entry_id: row.entry_id.clone(),
                        seq: seq as i64,
                        entry_digest: hex::encode(digest),
                        seal: self.sealer.seal(seq, &digest),
                        seal_key_id: self.sealer.key_id().to_string(),
                    }
                })
                .collect();
            let to = AuditHead {
                size: frontier.size() as i64,
                frontier: frontier.encode(),
            };
            if self
                .store
                .place_audit_entries(&from, &to, &placements, &completed)
                .await?
            {
                placed += placements.len() as u64;
            }
        }
    }

    /// Signs a checkpoint of the log as it is now, unless it is empty or the last checkpoint
    /// already covers it; the size it signed.
    pub async fn checkpoint(&self) -> anyhow::Result<Option<u64>> {
        let head = self.store.audit_head().await?;
        let latest = self.store.audit_checkpoints().await?.last().map(|c| c.size);
        if head.size == 0 || latest == Some(head.size) {
            return Ok(None);
        }
        let frontier = Frontier::decode(u64::try_from(head.size)?, &head.frontier)?;
        let checkpoint = Checkpoint {
            root: frontier.root(),
            time: OffsetDateTime::now_utc().format(&Rfc3339)?,
        };
        self.store
            .record_audit_checkpoint(&checkpoint.sign(&self.identity)?)
            .await?;
        Ok(Some(frontier.size()))
    }

    /// Places pending entries every `place_every` and signs a checkpoint every
    /// `checkpoint_every`, until aborted.
    pub fn spawn(
        self,
        place_every: Duration,
        checkpoint_every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut place = tokio::time::interval(place_every);
            let mut checkpoint = tokio::time::interval(checkpoint_every);
            place.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = place.tick() => {
                        if let Err(error) = self.place_pending().await {
                            warn!(%error, "cannot place audit entries; trying again");
                        }
                    }
                    _ = checkpoint.tick() => {
                        if let Err(error) = self.place_pending().await {
                            warn!(%error, "cannot place audit entries; trying again");
                        }
                        match self.checkpoint().await {
                            Ok(Some(size)) => info!(size, "audit checkpoint signed"),
                            Ok(None) => {}
                            Err(error) => warn!(%error, "cannot sign an audit checkpoint; trying again"),
                        }
                    }
                }
            }
        })
    }

    /// Places what is pending and signs a last checkpoint, at shutdown.
    pub async fn close(&self) {
        if let Err(error) = self.place_pending().await {
            warn!(%error, "cannot place the last audit entries at shutdown");
        }
        match self.checkpoint().await {
            Ok(Some(size)) => info!(size, "audit checkpoint signed at shutdown"),
            Ok(None) => {}
            Err(error) => warn!(%error, "cannot sign the audit checkpoint at shutdown"),
        }
    }
}
