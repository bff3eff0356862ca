//! The audit log's Merkle tree (RFC 6962 / RFC 9162): its leaves are the SHA-256 digests of the
//! entries' canonical forms, in sequence order. `ct-merkle` builds the proofs and verifies them;
//! the hub keeps the frontier (the roots of the complete subtrees) of the live tree, which gives
//! the root at any size from O(log n) hashes, and stores the root of every complete subtree of
//! `STORED_LEVEL` and up as it completes, from which `stored_tree` proves.

use ct_merkle::RootHash;
#[cfg(test)]
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use sha2::Digest as _;

/// The tree's hash function.
pub type TreeHash = sha2::Sha256;
/// A leaf's data: the SHA-256 of an entry's canonical form.
pub type EntryDigest = [u8; 32];
/// A tree's root and size.
pub type Root = RootHash<TreeHash>;
/// ct-merkle's whole tree in memory: the reference the tests compare with.
#[cfg(test)]
pub type ProvingTree = MemoryBackedTree<TreeHash, EntryDigest>;

/// The lowest level of stored subtree roots: subtrees of 256 leaves and up.
pub const STORED_LEVEL: u32 = 8;

/// `H(0x00 || entry digest)`, the RFC 6962 leaf hash.
pub(super) fn leaf_hash(entry: &EntryDigest) -> [u8; 32] {
    TreeHash::new_with_prefix([0u8])
        .chain_update(entry)
        .finalize()
        .into()
}

/// `H(0x01 || left || right)`, the RFC 6962 interior node hash.
pub(super) fn parent_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    TreeHash::new_with_prefix([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// A root from its bytes.
pub fn root_of(bytes: [u8; 32], size: u64) -> Root {
    RootHash::new(bytes.into(), size)
}

/// A root's bytes.
pub fn root_bytes(root: &Root) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(root.as_bytes());
    bytes
}

#[derive(Debug, thiserror::Error)]
#[error("the log head's frontier does not fit its size")]
pub struct MalformedFrontier;

/// The roots of the complete subtrees of a tree of `size` leaves, largest first: one for each
/// bit set in `size`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<[u8; 32]>,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf.
    pub fn push(&mut self, entry: &EntryDigest) {
        self.push_completing(entry, |_, _, _| {});
    }

    /// Appends a leaf, handing `completed` the level, index and root of each subtree of
    /// `STORED_LEVEL` and up that the leaf completes.
    pub fn push_completing(
        &mut self,
        entry: &EntryDigest,
        mut completed: impl FnMut(u32, u64, &[u8; 32]),
    ) {
        let mut node = leaf_hash(entry);
        let mut size = self.size;
        let mut level = 0;
        while size & 1 == 1 {
            let left = self
                .nodes
                .pop()
                .expect("a set bit of the size has its subtree root");
            node = parent_hash(&left, &node);
            size >>= 1;
            level += 1;
            if level >= STORED_LEVEL {
                completed(level, ((self.size + 1) >> level) - 1, &node);
            }
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The root of the tree (RFC 6962's Merkle Tree Hash; for no leaves, the hash of nothing).
    pub fn root(&self) -> Root {
        let bytes = match self.nodes.split_last() {
            None => TreeHash::digest([]).into(),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |right, left| parent_hash(left, &right)),
        };
        root_of(bytes, self.size)
    }

    /// The frontier as stored: hex roots, comma-separated.
    pub fn encode(&self) -> String {
        self.nodes
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The frontier of a tree of `size` leaves from its complete subtrees' roots, largest first.
    pub fn from_roots(size: u64, nodes: Vec<[u8; 32]>) -> Result<Self, MalformedFrontier> {
        if nodes.len() != size.count_ones() as usize {
            return Err(MalformedFrontier);
        }
        Ok(Self { size, nodes })
    }

    /// A stored frontier for a tree of `size` leaves.
    pub fn decode(size: u64, text: &str) -> Result<Self, MalformedFrontier> {
        let nodes = if text.is_empty() {
            Vec::new()
        } else {
            text.split(',')
                .map(|node| {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(node, &mut bytes).map_err(|_| MalformedFrontier)?;
                    Ok(bytes)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Self::from_roots(size, nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> EntryDigest {
        TreeHash::digest(i.to_be_bytes()).into()
    }

    #[test]
    fn the_frontier_gives_the_root_ct_merkle_computes_at_every_size() {
        let mut frontier = Frontier::default();
        let mut tree = ProvingTree::new();
        assert_eq!(frontier.root(), tree.root());
        for i in 0..300 {
            frontier.push(&entry(i));
            tree.push(entry(i));
            assert_eq!(frontier.root(), tree.root(), "size {}", i + 1);
            let stored = Frontier::decode(frontier.size(), &frontier.encode()).unwrap();
            assert_eq!(stored, frontier);
        }
    }

    #[test]
    fn the_empty_tree_has_the_rfc_6962_root() {
        assert_eq!(
            hex::encode(root_bytes(&Frontier::default().root())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_frontier_that_does_not_fit_its_size_is_refused() {
        let mut frontier = Frontier::default();
        for i in 0..5 {
            frontier.push(&entry(i));
        }
        let text = frontier.encode();
        assert!(Frontier::decode(5, &text).is_ok());
        assert!(Frontier::decode(7, &text).is_err());
        assert!(Frontier::decode(5, "zz,00").is_err());
    }

    #[test]
    fn proofs_from_the_proving_tree_verify_against_the_frontiers_roots() {
        let entries: Vec<_> = (0..37).map(entry).collect();
        let mut tree = ProvingTree::new();
        for entry in &entries {
            tree.push(*entry);
        }
        let mut old = Frontier::default();
        for e in &entries[..20] {
            old.push(e);
        }
        let proof = tree.prove_inclusion(11);
        tree.root()
            .verify_inclusion(&entries[11], 11, &proof)
            .unwrap();
        assert!(
            tree.root()
                .verify_inclusion(&entries[12], 11, &proof)
                .is_err()
        );
        let consistency = tree.prove_consistency(17);
        tree.root()
            .verify_consistency(&old.root(), &consistency)
            .unwrap();
    }
}
