-- Retention: entries older than the retention period move to signed archive files. What stays
-- of an archived entry is its leaf: its place, its digest and its seal, so that the tree, every
-- checkpoint and every proof about the entries that remain still verify.
CREATE TABLE audit_leaves (
    seq BIGINT PRIMARY KEY,
    entry_digest TEXT NOT NULL,
    seal TEXT NOT NULL,
    seal_key_id TEXT NOT NULL
);

-- One row per archive file: the entries it holds ([from_seq, up_to)) and its SHA-256.
CREATE TABLE audit_archives (
    up_to BIGINT PRIMARY KEY,
    from_seq BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    file_digest TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
