-- The roots of the log's complete subtrees of 256 leaves or more (level 8 and up), written by
-- the placement that completes them, so that a proof reads O(log n) hashes instead of every
-- digest of the log. They speed proofs up and decide nothing: a proof is checked against its
-- signed checkpoint before it is given, and `audit verify` recomputes every node.
CREATE TABLE audit_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
