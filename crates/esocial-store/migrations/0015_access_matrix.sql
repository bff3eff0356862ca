-- The digest of the access matrix (clients, grants, agencies, their grants, master-index roles)
-- the hub last started with: a start with another one writes an `operator.grants` audit entry in
-- the same transaction as the new digest.
CREATE TABLE access_matrix (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
