-- Pending entries are placed oldest first, by time then id: the index holds both, so that
-- finding the next batch stays cheap behind a long backlog (after a bulk import, or while no
-- hub was placing).
DROP INDEX audit_log_pending;
CREATE INDEX audit_log_pending ON audit_log (recorded_at, entry_id) WHERE seq IS NULL;
