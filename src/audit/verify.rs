//! `audit verify`: reads the whole log in order (the leaves of archived entries, then the live
//! entries) and checks every entry against its seal, the tree against every signed
//! checkpoint, and the log's length against the last checkpoint and the head; it names the
//! first entry that was modified, deleted, inserted or reordered; last, it recomputes the
//! stored subtree roots that proofs are read from.

use std::collections::{HashMap, VecDeque};

use esocial_store::{SequencedEntry, Store};
use openssl::x509::X509Ref;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::entry::{AuditSealer, canonical, digest_of};
use super::tree::{EntryDigest, Frontier};

/// Entries read per query.
const PAGE: i64 = 10_000;
/// How far from its place a moved entry is looked for.
const MOVE_WINDOW: u64 = 16;

/// The first thing wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("entry {seq} (id {entry_id}) was modified: its content no longer fits its seal")]
    Modified { seq: u64, entry_id: String },
    #[error("entry {seq} was deleted: the log goes on without it")]
    Deleted { seq: u64 },
    #[error("entry {seq} (id {entry_id}) was inserted: the hub never placed it there")]
    Inserted { seq: u64, entry_id: String },
    #[error("entry {seq} (id {entry_id}) was reordered: the hub placed it at {placed_at}")]
    Reordered {
        seq: u64,
        entry_id: String,
        placed_at: u64,
    },
    #[error("entries from {from} on were deleted: checkpoint or head says the log had {known}")]
    Truncated { from: u64, known: u64 },
    #[error(
        "entry {seq} (id {entry_id}) is sealed with key {key_id}, which this hub does not hold"
    )]
    UnknownKey {
        seq: u64,
        entry_id: String,
        key_id: String,
    },
    #[error("the checkpoint at size {size} is not valid: {error}")]
    BadCheckpoint { size: i64, error: CheckpointError },
    #[error(
        "the tree of the first {size} entries does not match the signed checkpoint of that size, \
         though every entry fits its seal: the seals or the checkpoint were forged"
    )]
    CheckpointMismatch { size: u64 },
    #[error(
        "the stored root of the subtree at level {level}, index {index} does not match the \
         entries: it was modified, and proofs that use it fail"
    )]
    NodeModified { level: u32, index: u64 },
}

/// What a clean verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: usize,
    /// Entries written but not yet placed (not yet part of the tree).
    pub pending: i64,
    /// Size of the last checkpoint, if any.
    pub latest_checkpoint: Option<u64>,
}

/// Verifies the whole log. `progress` is told how many entries were checked, once per page.
pub async fn verify(
    store: &Store,
    sealer: &AuditSealer,
    certificate: &X509Ref,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Result<Verified, Finding>> {
    let mut checkpoints = VecDeque::new();
    for stored in store.audit_checkpoints().await? {
        match Checkpoint::open(&stored, certificate) {
            Ok(checkpoint) => checkpoints.push_back(checkpoint),
            Err(error) => {
                return Ok(Err(Finding::BadCheckpoint {
                    size: stored.size,
                    error,
                }));
            }
        }
    }
    let checkpoint_count = checkpoints.len();
    let latest_checkpoint = checkpoints.back().map(Checkpoint::size);
    let head = store.audit_head().await?;

    let mut frontier = Frontier::default();
    let mut nodes = HashMap::new();
    // The leaves of archived entries first: their content is in the archive files
    // (`audit verify --archive`), their place and digest still under their seals here.
    let archived_up_to = store.audit_archived_up_to().await?;
    while (frontier.size() as i64) < archived_up_to {
        let page = store.audit_leaves(frontier.size() as i64, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for leaf in page {
            let expected = frontier.size();
            if leaf.seq >= archived_up_to {
                break;
            }
            if leaf.seq != expected as i64 {
                return Ok(Err(Finding::Deleted { seq: expected }));
            }
            if !sealer.knows(&leaf.seal_key_id) {
                return Ok(Err(Finding::UnknownKey {
                    seq: expected,
                    entry_id: ARCHIVED.into(),
                    key_id: leaf.seal_key_id,
                }));
            }
            let mut digest: EntryDigest = [0u8; 32];
            if hex::decode_to_slice(&leaf.entry_digest, &mut digest).is_err()
                || !sealer.fits(&leaf.seal_key_id, expected, &digest, &leaf.seal)
            {
                return Ok(Err(Finding::Modified {
                    seq: expected,
                    entry_id: ARCHIVED.into(),
                }));
            }
            if let Some(finding) = grow(&mut frontier, &mut nodes, &digest, &mut checkpoints) {
                return Ok(Err(finding));
            }
        }
        progress(frontier.size());
    }
    if (frontier.size() as i64) < archived_up_to {
        return Ok(Err(Finding::Deleted {
            seq: frontier.size(),
        }));
    }

    let mut buffer: VecDeque<SequencedEntry> = VecDeque::new();
    let mut next_page_from = frontier.size() as i64;
    let mut exhausted = false;
    loop {
        // Keep two entries at hand: classifying a misfit looks at the one after it.
        while !exhausted && buffer.len() < 2 {
            let page = store.audit_entries(next_page_from, PAGE).await?;
            exhausted = (page.len() as i64) < PAGE;
            if let Some(last) = page.last() {
                next_page_from = last.seq + 1;
            }
            buffer.extend(page);
        }
        let Some(entry) = buffer.pop_front() else {
            break;
        };
        let expected = frontier.size();
        if entry.seq != expected as i64 {
            return Ok(Err(Finding::Deleted { seq: expected }));
        }
        if !sealer.knows(&entry.seal_key_id) {
            return Ok(Err(Finding::UnknownKey {
                seq: expected,
                entry_id: entry.row.entry_id,
                key_id: entry.seal_key_id,
            }));
        }
        let digest = digest_of(&canonical(&entry.row));
        if hex::encode(digest) != entry.entry_digest
            || !sealer.fits(&entry.seal_key_id, expected, &digest, &entry.seal)
        {
            return Ok(Err(classify(
                sealer,
                expected,
                &entry,
                &digest,
                buffer.front(),
            )));
        }
        if let Some(finding) = grow(&mut frontier, &mut nodes, &digest, &mut checkpoints) {
            return Ok(Err(finding));
        }
        if frontier.size() % PAGE as u64 == 0 {
            progress(frontier.size());
        }
    }
    let entries = frontier.size();
    progress(entries);
    let known = checkpoints
        .back()
        .map(Checkpoint::size)
        .into_iter()
        .chain(u64::try_from(head.size).ok())
        .max()
        .unwrap_or(0);
    if known > entries {
        return Ok(Err(Finding::Truncated {
            from: entries,
            known,
        }));
    }
    if let Some(finding) = check_nodes(store, &nodes).await? {
        return Ok(Err(finding));
    }
    Ok(Ok(Verified {
        entries,
        checkpoints: checkpoint_count,
        pending: store.pending_audit_count().await?,
        latest_checkpoint,
    }))
}

/// What an archived entry is called in a finding: its id left with its content.
const ARCHIVED: &str = "archived";

/// Compares the stored subtree roots with the ones the entries give. A root that is not stored
/// is no finding: logs placed before roots were kept have none, and proofs compute them.
async fn check_nodes(
    store: &Store,
    computed: &HashMap<(u32, u64), [u8; 32]>,
) -> anyhow::Result<Option<Finding>> {
    let mut after = (-1, -1);
    loop {
        let page = store.audit_nodes_page(after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        after = (last.level, last.index);
        for node in &page {
            let key = (u32::try_from(node.level)?, u64::try_from(node.index)?);
            if computed.get(&key).map(hex::encode).as_deref() != Some(node.hash.as_str()) {
                return Ok(Some(Finding::NodeModified {
                    level: key.0,
                    index: key.1,
                }));
            }
        }
    }
}

/// Appends a leaf, noting the subtree roots it completes, and checks the new tree against the
/// checkpoint of its size, if any.
fn grow(
    frontier: &mut Frontier,
    nodes: &mut HashMap<(u32, u64), [u8; 32]>,
    digest: &EntryDigest,
    checkpoints: &mut VecDeque<Checkpoint>,
) -> Option<Finding> {
    frontier.push_completing(digest, |level, index, hash| {
        nodes.insert((level, index), *hash);
    });
    let size = frontier.size();
    while checkpoints.front().is_some_and(|c| c.size() == size) {
        let checkpoint = checkpoints.pop_front().expect("checked");
        if checkpoint.root != frontier.root() {
            return Some(Finding::CheckpointMismatch { size });
        }
    }
    None
}

/// Where the hub placed an entry, looking near `seq`.
fn placed_at(sealer: &AuditSealer, seq: u64, entry: &SequencedEntry) -> Option<u64> {
    let digest = digest_of(&canonical(&entry.row));
    (seq.saturating_sub(MOVE_WINDOW)..=seq + MOVE_WINDOW)
        .find(|place| sealer.fits(&entry.seal_key_id, *place, &digest, &entry.seal))
}

/// What happened to the entry at `seq`, whose content does not fit its seal there.
fn classify(
    sealer: &AuditSealer,
    seq: u64,
    entry: &SequencedEntry,
    digest: &EntryDigest,
    next: Option<&SequencedEntry>,
) -> Finding {
    let entry_id = entry.row.entry_id.clone();
    let next_placed_at = next
        .filter(|next| next.seq == seq as i64 + 1)
        .and_then(|next| placed_at(sealer, seq + 1, next));
    match placed_at(sealer, seq, entry) {
        Some(place) if place == seq => {
            // It fits its seal; only the stored digest was changed.
            debug_assert_ne!(hex::encode(digest), entry.entry_digest);
            Finding::Modified { seq, entry_id }
        }
        Some(place) if place > seq && next_placed_at != Some(seq) => Finding::Deleted { seq },
        Some(place) => Finding::Reordered {
            seq,
            entry_id,
            placed_at: place,
        },
        None if next_placed_at == Some(seq) => Finding::Inserted { seq, entry_id },
        None => Finding::Modified { seq, entry_id },
    }
}
