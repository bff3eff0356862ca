//! The access report of one person: every access to their data that the audit log holds (who,
//! when, which service, on what legal basis and why, what was released), paged, each line with
//! its proof of inclusion against the latest signed checkpoint, so that the person, or the
//! data-protection authority, can check that the hub did not leave anything out of its log
//! without leaving a trace.

use esocial_store::{AuditCheckpoint, SequencedEntry, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::checkpoint::Checkpoint;
use super::entry::canonical;
use super::entry::digest_of;
use super::proof::{SignedNote, checked_inclusion, tree_at};

/// Lines per page, at most.
pub const MAX_PAGE: u32 = 500;

/// Whose accesses, over which period, and which page.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// The master-index person, when known.
    pub person_id: Option<String>,
    /// Keyed digests of the person's identifiers (IDNPs).
    pub subject_digests: Vec<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// The last sequence number of the previous page.
    pub after: Option<i64>,
    pub limit: u32,
}

fn rfc3339(moment: OffsetDateTime) -> anyhow::Result<String> {
    Ok(moment.to_offset(time::UtcOffset::UTC).format(&Rfc3339)?)
}

/// One page of the report, as JSON.
pub async fn access_report(store: &Store, query: &ReportQuery) -> anyhow::Result<Value> {
    let from = query.from.map(rfc3339).transpose()?.unwrap_or_default();
    // Past any RFC 3339 time.
    let to = query
        .to
        .map(rfc3339)
        .transpose()?
        .unwrap_or_else(|| "9".to_string());
    let limit = query.limit.clamp(1, MAX_PAGE);
    let entries = store
        .audit_entries_about(
            query.person_id.as_deref(),
            &query.subject_digests,
            &from,
            &to,
            query.after.unwrap_or(-1),
            i64::from(limit) + 1,
        )
        .await?;
    let more = entries.len() > limit as usize;
    let entries = &entries[..entries.len().min(limit as usize)];

    let latest: Option<AuditCheckpoint> = store.audit_checkpoints().await?.pop();
    let mut accesses = Vec::with_capacity(entries.len());
    match &latest {
        Some(stored) if entries.iter().any(|e| e.seq < stored.size) => {
            let checkpoint = Checkpoint::parse(&stored.note)?;
            let mut tree = tree_at(store, &checkpoint).await?;
            for entry in entries {
                let proof = if entry.seq < stored.size {
                    let seq = entry.seq as u64;
                    let digest = digest_of(&canonical(&entry.row));
                    let path = checked_inclusion(&mut tree, &checkpoint, seq, &digest).await?;
                    Some(json!({ "index": entry.seq, "path": path }))
                } else {
                    None
                };
                accesses.push(line(entry, proof));
            }
        }
        _ => accesses.extend(entries.iter().map(|entry| line(entry, None))),
    }
    Ok(json!({
        "personId": query.person_id,
        "from": query.from.map(rfc3339).transpose()?,
        "to": query.to.map(rfc3339).transpose()?,
        "checkpoint": latest.as_ref().map(|stored| SignedNote {
            note: stored.note.clone(),
            signature: stored.signature.clone(),
        }),
        "accesses": accesses,
        "next": if more { entries.last().map(|e| e.seq) } else { None },
    }))
}

/// One access, with its proof when the checkpoint covers it.
fn line(entry: &SequencedEntry, proof: Option<Value>) -> Value {
    let row = &entry.row;
    let fields: Option<Value> = row
        .fields_released
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    json!({
        "seq": entry.seq,
        "time": row.recorded_at,
        "kind": row.kind,
        "client": row.client_id,
        "service": row.service,
        "legalBasis": row.legal_basis,
        "reason": row.reason,
        "caseId": row.case_id,
        "outcome": row.outcome,
        "errorCode": row.error_code,
        "fieldsReleased": fields,
        "entry": canonical(row),
        "proof": proof,
    })
}
