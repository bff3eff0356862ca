-- The audit log: one entry for every access to personal data, written in the same transaction
-- as the change it records (an exchange's terminal state), so that no access goes unrecorded.
-- Persons appear only as keyed digests. An entry is first pending (seq NULL); the hub then
-- gives it its place: its sequence number (its leaf index in the log's Merkle tree), the
-- SHA-256 of its canonical form and a keyed seal over both. Signed checkpoints of the tree
-- make the log tamper-evident.
CREATE TABLE audit_log (
    entry_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    exchange_id TEXT,
    client_id TEXT,
    service TEXT,
    legal_basis TEXT,
    reason TEXT,
    case_id TEXT,
    calling_user_digest TEXT,
    subject_digest TEXT,
    outcome TEXT NOT NULL,
    error_code TEXT,
    fields_released TEXT,
    request_digest TEXT,
    response_digest TEXT,
    seq BIGINT UNIQUE,
    entry_digest TEXT,
    seal TEXT,
    seal_key_id TEXT
);
CREATE INDEX audit_log_pending ON audit_log (recorded_at) WHERE seq IS NULL;
CREATE INDEX audit_log_subject ON audit_log (subject_digest, recorded_at);

-- How far the log is sequenced: its size and the roots of the Merkle tree's complete subtrees
-- (hex, largest first), from which the root of the whole tree follows.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    size BIGINT NOT NULL,
    frontier TEXT NOT NULL
);
INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, '');

-- Signed checkpoints: the tree's size and root at a moment, signed with the hub's key.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    note TEXT NOT NULL,
    signature TEXT NOT NULL
);
