//! Retention: the log's oldest entries move to archive files, one per run, each ending at a
//! signed checkpoint. A file holds the entries whole (canonical form, place, seal), the roots of
//! the complete subtrees of the tree before its first entry, and the checkpoint; from these
//! alone the checkpoint's root follows, so `audit verify --archive FILE --cert hub.pem` checks
//! it offline. The store keeps each archived entry's leaf (place, digest, seal), so the live
//! log, its checkpoints and proofs still verify.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use esocial_store::{AuditArchive, Store};
use openssl::x509::X509Ref;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::checkpoint::Checkpoint;
use super::entry::{canonical, digest_of};
use super::proof::SignedNote;
use super::stored_tree::StoredTree;
use super::tree::Frontier;

/// The `format` of an archive file.
pub const FORMAT: &str = "esocial-hub audit archive v1";

/// An archived entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchivedEntry {
    pub seq: u64,
    /// The canonical form; its SHA-256 is the leaf.
    pub entry: String,
    pub seal: String,
    pub seal_key_id: String,
}

/// An archive file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveFile {
    pub format: String,
    /// The first entry's place.
    pub from: u64,
    /// One past the last entry's place: the size of the checkpoint.
    pub to: u64,
    /// Hex roots of the complete subtrees of the tree of the `from` entries before these,
    /// largest first.
    pub start_frontier: Vec<String>,
    pub entries: Vec<ArchivedEntry>,
    /// The signed checkpoint of size `to`.
    pub checkpoint: SignedNote,
}

/// Checks an archive file with the hub's certificate alone; what it holds, in words.
pub fn verify_archive(file: &ArchiveFile, certificate: &X509Ref) -> anyhow::Result<String> {
    ensure!(file.format == FORMAT, "not an archive of this log's format");
    let checkpoint = Checkpoint::open(
        &esocial_store::AuditCheckpoint {
            size: i64::try_from(file.to)?,
            note: file.checkpoint.note.clone(),
            signature: file.checkpoint.signature.clone(),
        },
        certificate,
    )?;
    ensure!(
        file.from <= file.to && file.entries.len() as u64 == file.to - file.from,
        "the archive should hold {} entries and holds {}",
        file.to.saturating_sub(file.from),
        file.entries.len()
    );
    let mut frontier = Frontier::decode(file.from, &file.start_frontier.join(","))
        .context("the archive's start frontier does not fit its first place")?;
    for (offset, archived) in file.entries.iter().enumerate() {
        let place = file.from + offset as u64;
        if archived.seq != place {
            bail!(
                "entry {place} is missing or out of order (found {})",
                archived.seq
            );
        }
        frontier.push(&digest_of(&archived.entry));
    }
    if frontier.root() != checkpoint.root {
        bail!(
            "the entries do not make the tree the hub signed: one of entries {}..{} was \
             modified, removed, added or reordered",
            file.from,
            file.to
        );
    }
    Ok(format!(
        "entries {}..{} make the log of {} entries the hub signed at {}",
        file.from,
        file.to,
        checkpoint.size(),
        checkpoint.time
    ))
}

/// Moves entries recorded before `before` out of the live log into a file in `dir`, up to the
/// last checkpoint that covers only such entries (and, when `delivered_first` is given, that
/// MLog has acknowledged). The file is written, synced and checked before anything leaves the
/// store. `None` when nothing is old enough.
pub async fn archive(
    store: &Store,
    before: OffsetDateTime,
    dir: &Path,
    delivered_first: Option<i64>,
    certificate: &X509Ref,
) -> anyhow::Result<Option<(PathBuf, AuditArchive)>> {
    let from = store.audit_archived_up_to().await?;
    let cutoff = before.to_offset(time::UtcOffset::UTC);
    let mut up_to = None;
    for stored in store.audit_checkpoints().await?.into_iter().rev() {
        if stored.size <= from || delivered_first.is_some_and(|delivered| stored.size > delivered) {
            continue;
        }
        let last = store.audit_entries(stored.size - 1, 1).await?;
        let Some(last) = last.first() else { continue };
        let recorded = OffsetDateTime::parse(&last.row.recorded_at, &Rfc3339)
            .with_context(|| format!("entry {} has no readable time", last.seq))?;
        if recorded < cutoff {
            up_to = Some(stored);
            break;
        }
    }
    let Some(stored) = up_to else {
        return Ok(None);
    };
    let to = stored.size;
    // Where the archived entries start in the tree: its frontier there, from the stored roots.
    let frontier = StoredTree::new(store, u64::try_from(to)?)
        .frontier(u64::try_from(from)?)
        .await
        .context("the log's leaves before the archive do not make a tree; run `audit verify`")?;
    let entries: Vec<ArchivedEntry> = store
        .audit_entries(from, to - from)
        .await?
        .into_iter()
        .map(|entry| ArchivedEntry {
            seq: entry.seq as u64,
            entry: canonical(&entry.row),
            seal: entry.seal,
            seal_key_id: entry.seal_key_id,
        })
        .collect();
    let file = ArchiveFile {
        format: FORMAT.into(),
        from: from as u64,
        to: to as u64,
        start_frontier: {
            let text = frontier.encode();
            if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(str::to_string).collect()
            }
        },
        entries,
        checkpoint: SignedNote {
            note: stored.note.clone(),
            signature: stored.signature.clone(),
        },
    };
    verify_archive(&file, certificate).context("the archive does not verify; nothing was moved")?;

    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let name = format!("audit-{from:012}-{to:012}.json");
    let path = dir.join(&name);
    let bytes = serde_json::to_vec_pretty(&file)?;
    let partial = dir.join(format!(".{name}.partial"));
    {
        let mut out = std::fs::File::create(&partial)
            .with_context(|| format!("writing `{}`", partial.display()))?;
        out.write_all(&bytes)?;
        out.sync_all()?;
    }
    std::fs::rename(&partial, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    let record = AuditArchive {
        from_seq: from,
        up_to: to,
        file_name: name,
        file_digest: hex::encode(openssl::sha::sha256(&bytes)),
        archived_at: OffsetDateTime::now_utc().format(&Rfc3339)?,
    };
    ensure!(
        store.archive_audit_entries(&record).await?,
        "another archive ran at the same time; `{}` is left and nothing was moved",
        path.display()
    );
    Ok(Some((path, record)))
}
