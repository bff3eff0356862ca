-- Asynchronous exchanges. The exchanges table is the durable queue's source of truth: a row
-- in progress with mode 'async' is work to do; queue_state says where it stands:
--   queued  - waiting for a worker (and, with RabbitMQ, a message is in the broker);
--   working - claimed by a worker until lease_until (epoch milliseconds);
--   waiting - failed with a retryable error, due again at available_at.
-- Requests and results are sealed (AES-256-GCM); no personal data in clear.
ALTER TABLE exchanges ADD COLUMN mode TEXT NOT NULL DEFAULT 'sync';
ALTER TABLE exchanges ADD COLUMN registry TEXT;
ALTER TABLE exchanges ADD COLUMN queue_state TEXT;
ALTER TABLE exchanges ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exchanges ADD COLUMN available_at BIGINT;
ALTER TABLE exchanges ADD COLUMN lease_until BIGINT;
ALTER TABLE exchanges ADD COLUMN enqueued_at BIGINT;
ALTER TABLE exchanges ADD COLUMN idempotency_key TEXT;
ALTER TABLE exchanges ADD COLUMN submission_digest TEXT;
ALTER TABLE exchanges ADD COLUMN sealed_request TEXT;
ALTER TABLE exchanges ADD COLUMN sealed_result TEXT;
ALTER TABLE exchanges ADD COLUMN dead_letter_reason TEXT;

CREATE UNIQUE INDEX exchanges_idempotency ON exchanges (client_id, idempotency_key);
CREATE INDEX exchanges_queue ON exchanges (registry, queue_state, available_at);
