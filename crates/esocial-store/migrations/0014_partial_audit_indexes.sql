-- The indexes the access report searches keep only the entries that name a person or a
-- subject: most entries name no master-index person, and every entry in an index is paid for
-- at the end of the exchange that writes it.
DROP INDEX audit_log_person;
CREATE INDEX audit_log_person ON audit_log (person_id, recorded_at) WHERE person_id IS NOT NULL;
DROP INDEX audit_log_subject;
CREATE INDEX audit_log_subject ON audit_log (subject_digest, recorded_at)
    WHERE subject_digest IS NOT NULL;
