-- Every exchange's row is written into each index of the table, and a synchronous exchange has
-- no parent, no idempotency key, no queue state and no callback: those indexes keep only the
-- rows that have one, which are the only rows their queries look for.
DROP INDEX exchanges_parent_id;
CREATE INDEX exchanges_parent_id ON exchanges (parent_id) WHERE parent_id IS NOT NULL;
DROP INDEX exchanges_idempotency;
CREATE UNIQUE INDEX exchanges_idempotency ON exchanges (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX exchanges_queue;
CREATE INDEX exchanges_queue ON exchanges (registry, queue_state, available_at)
    WHERE queue_state IS NOT NULL;
DROP INDEX exchanges_callbacks;
CREATE INDEX exchanges_callbacks ON exchanges (callback_state, callback_due)
    WHERE callback_state IS NOT NULL;
