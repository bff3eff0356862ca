-- Completion callbacks of asynchronous exchanges: delivered durably, signed, retried.
ALTER TABLE exchanges ADD COLUMN callback_url TEXT;
-- pending (to deliver at callback_due), delivered, or failed (gave up after its attempts).
ALTER TABLE exchanges ADD COLUMN callback_state TEXT;
ALTER TABLE exchanges ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exchanges ADD COLUMN callback_due BIGINT;
CREATE INDEX exchanges_callbacks ON exchanges (callback_state, callback_due);
