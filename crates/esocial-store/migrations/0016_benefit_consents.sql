-- A person's consent that the hub fetch what registries know of them to pre-fill a benefits
-- estimate: who recorded it, about whom (the keyed digest of the IDNP, never the IDNP), for what
-- and on what legal basis, when it was given, until when, and when it was withdrawn.
CREATE TABLE benefit_consents (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    purpose TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    evidence TEXT NOT NULL,
    given_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    withdrawn_at TEXT
);
