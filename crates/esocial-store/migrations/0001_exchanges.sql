-- The exchange log: one row per accepted exchange. No personal data in clear: persons appear
-- only as keyed digests (HMAC-SHA256 under audit.digest_key).
CREATE TABLE exchanges (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    service TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    reason TEXT NOT NULL,
    case_id TEXT,
    calling_user_digest TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed')),
    error_code TEXT,
    request_digest TEXT,
    response_digest TEXT,
    registry_message_id TEXT,
    received_at TEXT NOT NULL,
    completed_at TEXT
);

CREATE INDEX exchanges_subject_digest ON exchanges (subject_digest);
CREATE INDEX exchanges_received_at ON exchanges (received_at);
CREATE INDEX exchanges_status ON exchanges (status);
