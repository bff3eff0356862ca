-- The calling user's and the subject's identifiers of an exchange, sealed (AES-256-GCM), kept
-- only until its audit entry reaches MLog, which is entitled to them: the exchange row holds
-- them while the exchange runs, its audit entry takes them over when it ends, and delivery to
-- MLog erases them. Not part of the entry's canonical form.
ALTER TABLE exchanges ADD COLUMN sealed_identifiers TEXT;
ALTER TABLE audit_log ADD COLUMN sealed_identifiers TEXT;

-- How many entries of the audit log (in sequence order) MLog has acknowledged.
CREATE TABLE mlog_delivery (
    id INTEGER PRIMARY KEY,
    delivered BIGINT NOT NULL
);
INSERT INTO mlog_delivery (id, delivered) VALUES (1, 0);
