-- Referrals (an agency refers a beneficiary to a service provider) and transfers (an agency
-- hands a case file to another agency): each a state machine sent -> received -> accepted or
-- declined, with a deadline (`respond_by`) past which it is escalated once. The hub keeps only
-- the envelope and the states: the document travels in the outbox (`deliveries`) to the
-- receiver's endpoint and is erased from it once delivered; here only its digest stays. The
-- subject appears as a keyed digest. A sender's retry with the same Idempotency-Key finds the
-- hand-off it made.
CREATE TABLE handoffs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    case_id TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    reason TEXT NOT NULL,
    document_digest TEXT NOT NULL,
    state TEXT NOT NULL,
    respond_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    received_at BIGINT,
    decided_at BIGINT,
    decision_reason TEXT,
    escalated_at BIGINT,
    UNIQUE (sender, idempotency_key)
);
CREATE INDEX handoffs_overdue ON handoffs (respond_by)
    WHERE state IN ('sent', 'received') AND escalated_at IS NULL;
