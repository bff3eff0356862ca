-- Exchanges that are parts of a composite request point to their parent exchange.
ALTER TABLE exchanges ADD COLUMN parent_id TEXT;
CREATE INDEX exchanges_parent_id ON exchanges (parent_id);
