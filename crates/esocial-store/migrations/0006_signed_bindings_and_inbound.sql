-- Message ids seen on signed MConnect messages (requests agencies send to the hub, answers
-- registries send back), each kept until the message's signature expires, so that no signed
-- message can be used twice. In the store, so a restart or another replica remembers them.
CREATE TABLE mconnect_seen_messages (
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (sender, message_id)
);
CREATE INDEX mconnect_seen_messages_expiry ON mconnect_seen_messages (expires_at);

-- Both MConnect message ids of an exchange: the request's and the answer's.
ALTER TABLE exchanges RENAME COLUMN registry_message_id TO response_message_id;
ALTER TABLE exchanges ADD COLUMN request_message_id TEXT;
-- outbound: the hub asks a registry; inbound: an agency asks the hub.
ALTER TABLE exchanges ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound';
-- Inbound: the answer fields the agency's grant released, as a JSON array of dotted paths.
ALTER TABLE exchanges ADD COLUMN fields_released TEXT;

-- Events agencies report about a person (NotifyCaseRelevantEvent), kept for the alerts flow.
-- The event itself is sealed (AES-256-GCM); in clear only who sent it, when, and its type.
CREATE TABLE case_events (
    id TEXT PRIMARY KEY,
    exchange_id TEXT NOT NULL,
    agency TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    person_id TEXT,
    severity TEXT NOT NULL,
    sealed_event TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX case_events_state ON case_events (state, received_at);
