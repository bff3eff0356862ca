-- The person an audit entry is about, by master-index id: master-index reads and changes name
-- the person, exchanges the subject's keyed digest.
ALTER TABLE audit_log ADD COLUMN person_id TEXT;
CREATE INDEX audit_log_person ON audit_log (person_id, recorded_at);
