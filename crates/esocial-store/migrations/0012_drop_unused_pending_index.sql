-- Pending entries are found through the `seq` index (`seq IS NULL`), read without sorting; the
-- partial index on their time was never used, and every exchange's end paid for keeping it.
DROP INDEX audit_log_pending;
