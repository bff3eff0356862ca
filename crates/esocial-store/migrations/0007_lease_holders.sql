-- Which hub instance holds a working exchange's lease: a restarted hub takes its own leases
-- back at once instead of waiting for them to run out.
ALTER TABLE exchanges ADD COLUMN lease_holder TEXT;
