//! Proofs read from the store instead of rebuilding the tree: a proof needs O(log n) subtree
//! roots, and the store keeps the root of every complete subtree of 256 leaves and up
//! (`audit_nodes`), so a proof reads those and at most a few tiles of 256 leaf digests.
//! `ct-merkle` says which nodes a proof holds and checks it; where a stored root is missing
//! (a log placed before the roots were kept), its subtree is computed from its leaves.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::bail;
use ct_merkle::{
    ConsistencyProof, InclusionProof, indices_for_consistency_proof, indices_for_inclusion_proof,
};
use esocial_store::Store;

use super::tree::{
    EntryDigest, Frontier, Root, STORED_LEVEL, TreeHash, leaf_hash, parent_hash, root_of,
};

/// Leaves per tile: the smallest stored subtree.
const TILE: u64 = 1 << STORED_LEVEL;
/// Stored roots asked for per query.
const NODES_PER_QUERY: usize = 64;

/// A stored subtree root: its level and index, and its hash.
pub type StoredNode = ((u32, u64), [u8; 32]);

/// Where the tree's stored roots and leaf digests come from.
pub trait TreeSource {
    /// The stored roots among `(level, index)` keys; absent ones are left out.
    fn nodes(&self, keys: &[(u32, u64)]) -> impl Future<Output = anyhow::Result<Vec<StoredNode>>>;
    /// The digests of the entries in `[from, to)`, in order; missing ones are left out.
    fn digests(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<(u64, EntryDigest)>>>;
}

fn hash_of(hex_text: &str) -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    if hex::decode_to_slice(hex_text, &mut bytes).is_err() {
        bail!("a stored audit hash is not 64 hex digits; run `audit verify`");
    }
    Ok(bytes)
}

impl TreeSource for Store {
    async fn nodes(&self, keys: &[(u32, u64)]) -> anyhow::Result<Vec<StoredNode>> {
        let keys = keys
            .iter()
            .map(|&(level, index)| Ok((i64::from(level), i64::try_from(index)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.audit_nodes(&keys)
            .await?
            .into_iter()
            .map(|node| {
                Ok((
                    (u32::try_from(node.level)?, u64::try_from(node.index)?),
                    hash_of(&node.hash)?,
                ))
            })
            .collect()
    }

    async fn digests(&self, from: u64, to: u64) -> anyhow::Result<Vec<(u64, EntryDigest)>> {
        self.audit_digests(i64::try_from(from)?, i64::try_from(to)?)
            .await?
            .into_iter()
            .map(|(seq, digest)| Ok((u64::try_from(seq)?, hash_of(&digest)?)))
            .collect()
    }
}

/// What a computation still needs from the source.
#[derive(Default)]
struct Wanted {
    nodes: BTreeSet<(u32, u64)>,
    tiles: BTreeSet<u64>,
}

/// The tree of the first `size` entries, read from its source as proofs need it.
pub struct StoredTree<'a, S> {
    source: &'a S,
    size: u64,
    nodes: HashMap<(u32, u64), [u8; 32]>,
    absent: HashSet<(u32, u64)>,
    digests: HashMap<u64, EntryDigest>,
    tiles_read: HashSet<u64>,
}

/// The leaves `[start, end)` that node `index` of ct-merkle's array-based tree of `size`
/// leaves covers.
fn range_of(index: u64, size: u64) -> (u64, u64) {
    let level = index.trailing_ones();
    let start = (index >> (level + 1)) << level;
    (start, (start + (1 << level)).min(size))
}

impl<'a, S: TreeSource> StoredTree<'a, S> {
    pub fn new(source: &'a S, size: u64) -> Self {
        Self {
            source,
            size,
            nodes: HashMap::new(),
            absent: HashSet::new(),
            digests: HashMap::new(),
            tiles_read: HashSet::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root.
    pub async fn root(&mut self) -> anyhow::Result<Root> {
        if self.size == 0 {
            return Ok(Frontier::default().root());
        }
        let [root] = self.hashes(&[(0, self.size)]).await?[..] else {
            unreachable!("one range, one hash")
        };
        Ok(root_of(root, self.size))
    }

    /// The frontier of the first `size` entries (at most the tree's): the roots of its complete
    /// subtrees, largest first, each read or computed like a proof's nodes.
    pub async fn frontier(&mut self, size: u64) -> anyhow::Result<Frontier> {
        if size > self.size {
            bail!("{size} entries are more than the tree of {}", self.size);
        }
        let mut ranges = Vec::new();
        let mut start = 0;
        for bit in (0..u64::BITS).rev() {
            let width = 1u64 << bit;
            if size & width != 0 {
                ranges.push((start, start + width));
                start += width;
            }
        }
        let roots = self.hashes(&ranges).await?;
        Ok(Frontier::from_roots(size, roots)?)
    }

    /// The stored digest of entry `seq`.
    pub async fn digest(&mut self, seq: u64) -> anyhow::Result<EntryDigest> {
        if seq >= self.size {
            bail!("entry {seq} is past the tree of {} entries", self.size);
        }
        self.hashes(&[(seq, seq + 1)]).await?;
        Ok(self.digests[&seq])
    }

    /// The proof that entry `seq` is a leaf of the tree.
    pub async fn prove_inclusion(&mut self, seq: u64) -> anyhow::Result<InclusionProof<TreeHash>> {
        if seq >= self.size {
            bail!("entry {seq} is past the tree of {} entries", self.size);
        }
        let nodes = self
            .nodes(indices_for_inclusion_proof(self.size, seq))
            .await?;
        Ok(InclusionProof::from_digests(&nodes))
    }

    /// The proof that this tree extends its first `older` entries.
    pub async fn prove_consistency(
        &mut self,
        older: u64,
    ) -> anyhow::Result<ConsistencyProof<TreeHash>> {
        if older == 0 || older > self.size {
            bail!("an older tree has between 1 and {} entries", self.size);
        }
        let nodes = self
            .nodes(indices_for_consistency_proof(older, self.size - older))
            .await?;
        Ok(ConsistencyProof::from_digests(&nodes))
    }

    /// The hashes of ct-merkle's nodes `indices`, in their order.
    async fn nodes(
        &mut self,
        indices: Vec<u64>,
    ) -> anyhow::Result<Vec<ct_merkle::digest::Output<TreeHash>>> {
        let ranges: Vec<_> = indices
            .into_iter()
            .map(|index| range_of(index, self.size))
            .collect();
        Ok(self
            .hashes(&ranges)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The Merkle tree hashes of the leaf ranges, reading what they need.
    async fn hashes(&mut self, ranges: &[(u64, u64)]) -> anyhow::Result<Vec<[u8; 32]>> {
        loop {
            let mut wanted = Wanted::default();
            let hashes = ranges
                .iter()
                .map(|&(start, end)| self.subtree(start, end, &mut wanted))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if wanted.nodes.is_empty() && wanted.tiles.is_empty() {
                return Ok(hashes
                    .into_iter()
                    .map(|hash| hash.expect("nothing is wanted"))
                    .collect());
            }
            self.read(wanted).await?;
        }
    }

    /// The hash of leaves `[start, end)` from what was read, or `None` after noting in
    /// `wanted` what is missing.
    fn subtree(
        &self,
        start: u64,
        end: u64,
        wanted: &mut Wanted,
    ) -> anyhow::Result<Option<[u8; 32]>> {
        let width = end - start;
        if width == 1 {
            if let Some(digest) = self.digests.get(&start) {
                return Ok(Some(leaf_hash(digest)));
            }
            let tile = start / TILE;
            if self.tiles_read.contains(&tile) {
                bail!("entry {start} is missing from the log; run `audit verify`");
            }
            wanted.tiles.insert(tile);
            return Ok(None);
        }
        if width.is_power_of_two() && width >= TILE && start.is_multiple_of(width) {
            let key = (width.trailing_zeros(), start / width);
            if let Some(hash) = self.nodes.get(&key) {
                return Ok(Some(*hash));
            }
            if !self.absent.contains(&key) {
                wanted.nodes.insert(key);
                return Ok(None);
            }
        }
        // RFC 9162 §2.1.1: split at the largest power of two below the width.
        let split = 1u64 << (63 - (width - 1).leading_zeros());
        let left = self.subtree(start, start + split, wanted)?;
        let right = self.subtree(start + split, end, wanted)?;
        Ok(left
            .zip(right)
            .map(|(left, right)| parent_hash(&left, &right)))
    }

    async fn read(&mut self, wanted: Wanted) -> anyhow::Result<()> {
        let keys: Vec<_> = wanted.nodes.into_iter().collect();
        for chunk in keys.chunks(NODES_PER_QUERY) {
            for (key, hash) in self.source.nodes(chunk).await? {
                self.nodes.insert(key, hash);
            }
        }
        for key in keys {
            if !self.nodes.contains_key(&key) {
                self.absent.insert(key);
            }
        }
        // Consecutive tiles in one read.
        let mut tiles = wanted.tiles.into_iter().peekable();
        while let Some(first) = tiles.next() {
            let mut last = first;
            while tiles.peek() == Some(&(last + 1)) {
                last = tiles.next().expect("peeked");
            }
            let to = ((last + 1) * TILE).min(self.size);
            for (seq, digest) in self.source.digests(first * TILE, to).await? {
                self.digests.insert(seq, digest);
            }
            self.tiles_read.extend(first..=last);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tree::ProvingTree;
    use sha2::Digest as _;
    use std::cell::Cell;

    /// A source kept in memory, with the roots `Frontier::push_completing` hands out, and
    /// counts of what was read.
    struct MemorySource {
        digests: Vec<EntryDigest>,
        nodes: HashMap<(u32, u64), [u8; 32]>,
        leaves_read: Cell<u64>,
    }

    impl MemorySource {
        fn new(size: u64) -> Self {
            let mut frontier = Frontier::default();
            let mut nodes = HashMap::new();
            let digests: Vec<EntryDigest> = (0..size)
                .map(|i| TreeHash::digest(i.to_be_bytes()).into())
                .collect();
            for digest in &digests {
                frontier.push_completing(digest, |level, index, hash| {
                    nodes.insert((level, index), *hash);
                });
            }
            Self {
                digests,
                nodes,
                leaves_read: Cell::new(0),
            }
        }
    }

    impl TreeSource for MemorySource {
        async fn nodes(&self, keys: &[(u32, u64)]) -> anyhow::Result<Vec<StoredNode>> {
            Ok(keys
                .iter()
                .filter_map(|key| self.nodes.get(key).map(|hash| (*key, *hash)))
                .collect())
        }

        async fn digests(&self, from: u64, to: u64) -> anyhow::Result<Vec<(u64, EntryDigest)>> {
            self.leaves_read.set(self.leaves_read.get() + (to - from));
            Ok((from..to)
                .filter_map(|seq| Some((seq, *self.digests.get(seq as usize)?)))
                .collect())
        }
    }

    fn proving_tree(source: &MemorySource, size: u64) -> ProvingTree {
        let mut tree = ProvingTree::new();
        for digest in &source.digests[..size as usize] {
            tree.push(*digest);
        }
        tree
    }

    #[tokio::test]
    async fn proofs_from_stored_roots_are_the_ones_ct_merkle_gives() {
        let source = MemorySource::new(1100);
        for size in [1, 2, 3, 255, 256, 257, 511, 512, 513, 700, 1024, 1100] {
            let tree = proving_tree(&source, size);
            let mut stored = StoredTree::new(&source, size);
            assert_eq!(stored.root().await.unwrap(), tree.root(), "size {size}");
            for seq in [0, 1, size / 3, size / 2, size - 1]
                .into_iter()
                .filter(|s| *s < size)
            {
                let proof = stored.prove_inclusion(seq).await.unwrap();
                assert_eq!(
                    proof.as_bytes(),
                    tree.prove_inclusion(seq as usize).as_bytes(),
                    "inclusion of {seq} in {size}"
                );
                assert_eq!(
                    stored.digest(seq).await.unwrap(),
                    source.digests[seq as usize]
                );
            }
            for older in [1, size / 2, size - 1, size].into_iter().filter(|o| *o > 0) {
                let proof = stored.prove_consistency(older).await.unwrap();
                assert_eq!(
                    proof.as_bytes(),
                    tree.prove_consistency((size - older) as usize).as_bytes(),
                    "consistency of {older} with {size}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_frontier_at_any_size_is_the_one_pushing_the_leaves_gives() {
        let source = MemorySource::new(1100);
        let mut stored = StoredTree::new(&source, 1100);
        let mut pushed = Frontier::default();
        for size in 0..=1100u64 {
            assert_eq!(stored.frontier(size).await.unwrap(), pushed, "size {size}");
            if let Some(digest) = source.digests.get(size as usize) {
                pushed.push(digest);
            }
        }
    }

    #[tokio::test]
    async fn a_proof_reads_a_tile_or_two_of_leaves_not_the_log() {
        let source = MemorySource::new(100_000);
        let mut stored = StoredTree::new(&source, 99_999);
        stored.prove_inclusion(40_000).await.unwrap();
        assert!(
            source.leaves_read.get() <= 2 * TILE,
            "{}",
            source.leaves_read.get()
        );
    }

    #[tokio::test]
    async fn missing_roots_are_computed_from_their_leaves() {
        let mut source = MemorySource::new(1100);
        let tree = proving_tree(&source, 1100);
        source.nodes.clear();
        let mut stored = StoredTree::new(&source, 1100);
        assert_eq!(stored.root().await.unwrap(), tree.root());
        assert_eq!(
            stored.prove_inclusion(300).await.unwrap().as_bytes(),
            tree.prove_inclusion(300).as_bytes()
        );
    }

    #[tokio::test]
    async fn a_missing_entry_is_an_error_not_a_proof() {
        let mut source = MemorySource::new(600);
        source.nodes.clear();
        source.digests.truncate(500);
        StoredTree::new(&source, 500).root().await.unwrap();
        let error = StoredTree::new(&source, 600).root().await.unwrap_err();
        assert!(
            error.to_string().contains("is missing from the log"),
            "{error}"
        );
    }
}
