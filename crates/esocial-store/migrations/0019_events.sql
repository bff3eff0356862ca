-- Events taken from MConnect Events (the consumer stream) or pushed by registries, and the
-- alerts they give. An event is stored once: (source, cloudevent_id) is unique, so an event seen
-- twice has one row and one effect. `id` is a UUIDv7, so ids order events as they were taken;
-- the events of one partition (the keyed digest of the `partitionkey`, never the IDNP) are handled in that
-- order, one at a time. The event itself is kept sealed (AES-256-GCM). `state`:
--   pending - to be handled;   working - a hub instance holds it until lease_until;
--   waiting - to be tried again at available_at;   review - its subject is not in the master
--   index, an operator must resolve it;   handled - its alerts are recorded;
--   dead - it can never be handled (reason says why); an operator may replay it.
-- A handled event's sealed content is erased; its row stays to recognise it if it comes again.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    cloudevent_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    partition_digest TEXT NOT NULL,
    channel TEXT NOT NULL,
    sealed_event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at BIGINT NOT NULL,
    lease_until BIGINT,
    lease_holder TEXT,
    received_at BIGINT NOT NULL,
    ended_at BIGINT,
    reason TEXT,
    person_id TEXT,
    UNIQUE (source, cloudevent_id)
);
-- The events not yet ended, by partition in order: what may be handled next.
CREATE INDEX events_open ON events (partition_digest, id)
    WHERE state IN ('pending', 'working', 'waiting', 'review');
CREATE INDEX events_due ON events (available_at)
    WHERE state IN ('pending', 'waiting', 'working');
CREATE INDEX events_parked ON events (state, id) WHERE state IN ('review', 'dead');
-- The oldest event not yet ended of each partition (`head`, NULL when none is open): what the
-- handler may take next, one per person, found without scanning the backlog behind it. Kept in
-- the transactions that take an event, end one or replay one.
CREATE TABLE event_partitions (
    partition_digest TEXT PRIMARY KEY,
    head TEXT
);
CREATE INDEX event_partitions_heads ON event_partitions (head) WHERE head IS NOT NULL;

-- The outbox of what the hub sends on: alerts an event gives (one per subscription, channel,
-- recipient and case, written in the same transaction as the event's `handled`) and the
-- documents and notices of referrals and transfers (`handoffs`). The unique key makes work
-- done twice (after a crash) send each thing once. A delivery to MNotify carries its id as
-- MNotify's `externalId`, a webhook its id as the CloudEvent id, so a resend after a lost
-- answer is recognised by the receiver. The payload is sealed, and erased once sent. `state`: pending, working
-- (leased), waiting (retry at available_at), sent, dead (reason; replayable). A notification
-- MNotify took keeps MNotify's id and the last status MNotify gave for it (Pending ... Read,
-- or Failed).
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    origin_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    case_id TEXT NOT NULL,
    priority TEXT NOT NULL,
    sealed_payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at BIGINT NOT NULL,
    lease_until BIGINT,
    lease_holder TEXT,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    reason TEXT,
    remote_id TEXT,
    remote_status TEXT,
    UNIQUE (origin_id, purpose, channel, target, case_id)
);
CREATE INDEX deliveries_due ON deliveries (available_at)
    WHERE state IN ('pending', 'waiting', 'working');
CREATE INDEX deliveries_dead ON deliveries (created_at) WHERE state = 'dead';
-- Notifications whose fate MNotify has not told yet.
CREATE INDEX deliveries_followed ON deliveries (ended_at)
    WHERE channel = 'mnotify' AND state = 'sent' AND remote_id IS NOT NULL
    AND (remote_status IS NULL OR remote_status NOT IN ('Delivered', 'Read', 'Failed', 'Cancelled'));
