//! Proofs that third parties check offline with only the hub's certificate: that an entry is
//! in the log (`audit prove`), and that a later checkpoint extends an earlier one
//! (`audit consistency`). `audit check` verifies either.

use anyhow::{Context, bail, ensure};
use ct_merkle::{ConsistencyProof, InclusionProof};
use esocial_store::{AuditCheckpoint, Store};
use openssl::x509::X509Ref;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::entry::{canonical, digest_of};
use super::stored_tree::StoredTree;
use super::tree::{EntryDigest, TreeHash};

/// A checkpoint as it travels in a proof: the signed note and its base64 signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedNote {
    pub note: String,
    pub signature: String,
}

/// A proof document, as `audit prove` and `audit consistency` write it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "proof", rename_all = "camelCase", deny_unknown_fields)]
pub enum ProofDocument {
    /// `entry` (its canonical JSON) is leaf `index` of the tree the checkpoint signs.
    #[serde(rename_all = "camelCase")]
    Inclusion {
        entry: String,
        index: u64,
        /// Hex sibling hashes, leaf to root (RFC 9162 §2.1.3).
        path: Vec<String>,
        checkpoint: SignedNote,
    },
    /// The tree `newer` signs extends the tree `older` signs.
    #[serde(rename_all = "camelCase")]
    Consistency {
        older: SignedNote,
        newer: SignedNote,
        /// Hex hashes (RFC 9162 §2.1.4).
        path: Vec<String>,
    },
}

fn signed(stored: &AuditCheckpoint) -> SignedNote {
    SignedNote {
        note: stored.note.clone(),
        signature: stored.signature.clone(),
    }
}

fn stored(signed: &SignedNote) -> anyhow::Result<AuditCheckpoint> {
    let size = Checkpoint::parse(&signed.note)?.size();
    Ok(AuditCheckpoint {
        size: i64::try_from(size)?,
        note: signed.note.clone(),
        signature: signed.signature.clone(),
    })
}

fn hex_path(bytes: &[u8]) -> Vec<String> {
    bytes.chunks(32).map(hex::encode).collect()
}

fn path_bytes(path: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(path.len() * 32);
    for node in path {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(node, &mut hash).context("`path` must hold 64-digit hex hashes")?;
        bytes.extend_from_slice(&hash);
    }
    Ok(bytes)
}

/// The tree of the first `size` entries as the store holds it, checked against the checkpoint
/// of that size.
pub(crate) async fn tree_at<'a>(
    store: &'a Store,
    checkpoint: &Checkpoint,
) -> anyhow::Result<StoredTree<'a, Store>> {
    let mut tree = StoredTree::new(store, checkpoint.size());
    ensure!(
        tree.root().await? == checkpoint.root,
        "the log does not match its checkpoint of size {}; run `audit verify`",
        checkpoint.size()
    );
    Ok(tree)
}

/// The inclusion proof of entry `seq` (whose digest is `digest`) against `checkpoint`, checked
/// before it is given: a stored subtree root that was changed makes a proof that fails here.
pub(crate) async fn checked_inclusion(
    tree: &mut StoredTree<'_, Store>,
    checkpoint: &Checkpoint,
    seq: u64,
    digest: &EntryDigest,
) -> anyhow::Result<Vec<String>> {
    ensure!(
        tree.digest(seq).await? == *digest,
        "entry {seq} does not match its leaf in the tree; run `audit verify`"
    );
    let proof = tree.prove_inclusion(seq).await?;
    ensure!(
        checkpoint
            .root
            .verify_inclusion(digest, seq, &proof)
            .is_ok(),
        "the stored tree nodes do not agree with the checkpoint of size {}; run `audit verify`",
        checkpoint.size()
    );
    Ok(hex_path(proof.as_bytes()))
}

/// The stored checkpoint of exactly `size`, checked with the hub's certificate.
async fn checkpoint_of(
    store: &Store,
    size: u64,
    certificate: &X509Ref,
) -> anyhow::Result<(AuditCheckpoint, Checkpoint)> {
    let stored = store
        .audit_checkpoints()
        .await?
        .into_iter()
        .find(|c| c.size as u64 == size)
        .with_context(|| {
            format!("there is no checkpoint of size {size}; `audit checkpoints` lists them")
        })?;
    let checkpoint = Checkpoint::open(&stored, certificate)?;
    Ok((stored, checkpoint))
}

/// Proves that entry `entry_id` is in the log, against the checkpoint of size `at` or else the
/// latest one.
pub async fn prove_inclusion(
    store: &Store,
    entry_id: &str,
    at: Option<u64>,
    certificate: &X509Ref,
) -> anyhow::Result<ProofDocument> {
    let (row, seq) = store
        .audit_entry(entry_id)
        .await?
        .context("there is no audit entry with that id")?;
    let Some(seq) = seq else {
        bail!("the entry is not placed in the log yet; try again in a moment");
    };
    let seq = u64::try_from(seq)?;
    let size = match at {
        Some(size) => size,
        None => store
            .audit_checkpoints()
            .await?
            .last()
            .map(|c| c.size as u64)
            .context("the log has no checkpoint yet; try again after the next one")?,
    };
    ensure!(
        seq < size,
        "the checkpoint of size {size} was signed before the entry (at {seq}) was placed; \
         try again after the next checkpoint"
    );
    let (stored, checkpoint) = checkpoint_of(store, size, certificate).await?;
    let mut tree = tree_at(store, &checkpoint).await?;
    let entry = canonical(&row);
    let path = checked_inclusion(&mut tree, &checkpoint, seq, &digest_of(&entry)).await?;
    Ok(ProofDocument::Inclusion {
        entry,
        index: seq,
        path,
        checkpoint: signed(&stored),
    })
}

/// Proves that the checkpoint of size `newer` extends the one of size `older`.
pub async fn prove_consistency(
    store: &Store,
    older: u64,
    newer: u64,
    certificate: &X509Ref,
) -> anyhow::Result<ProofDocument> {
    ensure!(
        0 < older && older <= newer,
        "the older size must be at least 1 and at most the newer one"
    );
    let (older_stored, older_checkpoint) = checkpoint_of(store, older, certificate).await?;
    let (newer_stored, newer_checkpoint) = checkpoint_of(store, newer, certificate).await?;
    let mut tree = tree_at(store, &newer_checkpoint).await?;
    let proof = tree.prove_consistency(older).await?;
    ensure!(
        newer_checkpoint
            .root
            .verify_consistency(&older_checkpoint.root, &proof)
            .is_ok(),
        "the stored tree nodes do not prove that the checkpoint of size {newer} extends the one \
         of size {older}; run `audit verify`"
    );
    Ok(ProofDocument::Consistency {
        older: signed(&older_stored),
        newer: signed(&newer_stored),
        path: hex_path(proof.as_bytes()),
    })
}

/// Checks a proof document with the hub's certificate alone; what it proves, in words.
pub fn check(document: &ProofDocument, certificate: &X509Ref) -> anyhow::Result<String> {
    match document {
        ProofDocument::Inclusion {
            entry,
            index,
            path,
            checkpoint,
        } => {
            let checkpoint = Checkpoint::open(&stored(checkpoint)?, certificate)?;
            let proof = InclusionProof::<TreeHash>::try_from_bytes(path_bytes(path)?)
                .map_err(|error| anyhow::anyhow!("the inclusion path is malformed: {error:?}"))?;
            checkpoint
                .root
                .verify_inclusion(&digest_of(entry), *index, &proof)
                .map_err(|error| {
                    anyhow::anyhow!("the entry is not proven to be in the log: {error:?}")
                })?;
            Ok(format!(
                "the entry is entry {index} of the log of {} entries the hub signed at {}",
                checkpoint.size(),
                checkpoint.time
            ))
        }
        ProofDocument::Consistency { older, newer, path } => {
            let older = Checkpoint::open(&stored(older)?, certificate)?;
            let newer = Checkpoint::open(&stored(newer)?, certificate)?;
            let proof = ConsistencyProof::<TreeHash>::try_from_bytes(path_bytes(path)?)
                .map_err(|error| anyhow::anyhow!("the consistency path is malformed: {error:?}"))?;
            newer
                .root
                .verify_consistency(&older.root, &proof)
                .map_err(|error| {
                    anyhow::anyhow!(
                        "the newer checkpoint is not proven to extend the older: {error:?}"
                    )
                })?;
            Ok(format!(
                "the log of {} entries signed at {} extends the log of {} entries signed at {}",
                newer.size(),
                newer.time,
                older.size(),
                older.time
            ))
        }
    }
}
