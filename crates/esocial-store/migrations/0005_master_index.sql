-- The beneficiary master index. Identity attributes are kept only sealed (AES-256-GCM); in
-- clear are the structure: record keys, person ids, link rules, scores and history.
CREATE TABLE mpi_persons (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    -- Set when the person was merged into another; its records then belong to that one.
    merged_into TEXT
);

CREATE TABLE mpi_records (
    source TEXT NOT NULL,
    local_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    sealed_attributes TEXT NOT NULL,
    -- JSON: rule, score, anchor, actor, at, pinned.
    link TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, local_id)
);
CREATE INDEX mpi_records_person ON mpi_records (person_id);

-- Every registration, link, unlink, merge, review decision and undo, with the exact before
-- and after state of what it changed, so that it can be undone.
CREATE TABLE mpi_history (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    changes TEXT NOT NULL,
    undoes TEXT,
    undone_by TEXT
);
CREATE TABLE mpi_history_persons (
    person_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    PRIMARY KEY (person_id, entry_id)
);

-- Possible matches waiting for a person to decide.
CREATE TABLE mpi_reviews (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    local_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    explanation TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX mpi_reviews_status ON mpi_reviews (status, created_at);

-- Human "not the same person" decisions; automatic matching never goes against them.
CREATE TABLE mpi_non_matches (
    source TEXT NOT NULL,
    local_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (source, local_id, person_id)
);

-- The trained matching model (m and u probabilities).
CREATE TABLE mpi_model (
    id TEXT PRIMARY KEY,
    parameters TEXT NOT NULL,
    trained_at BIGINT NOT NULL
);

-- Who read or changed which person's data, when and how.
CREATE TABLE mpi_audit (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    action TEXT NOT NULL,
    person_id TEXT,
    outcome TEXT NOT NULL
);
