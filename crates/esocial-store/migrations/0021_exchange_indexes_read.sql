-- Every exchange's row went into two indexes no query reads: by subject (the access report
-- reads the audit log, which has its own) and by status, where each finished exchange also
-- moved its entry. Only exchanges still in progress are looked for by status: at start-up,
-- and by the queue's sweeper.
DROP INDEX exchanges_subject_digest;
DROP INDEX exchanges_status;
CREATE INDEX exchanges_open ON exchanges (mode) WHERE status = 'in_progress';
