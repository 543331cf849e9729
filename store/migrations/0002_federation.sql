-- Federation: what passerelle knows of remote actors (their keys and
-- inboxes, refetched when a signature fails), which activities it has
-- already taken in, which domains the admin blocked, and the durable
-- deliveries of its own activities (the job carries the row id).

CREATE TABLE remote_actors (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    inbox TEXT NOT NULL DEFAULT '',
    shared_inbox TEXT NOT NULL DEFAULT '',
    outbox TEXT NOT NULL DEFAULT '',
    fetched_at BIGINT NOT NULL
);
CREATE INDEX remote_actors_key_id ON remote_actors (key_id);

-- Every verified activity the inbox accepted. dedupe_key is the activity
-- id plus a digest of its body: Mobilizon reuses one id for a Create and
-- all its Updates, so the id alone would lose updates, while a replay of
-- the same document is dropped. The body waits here for the inbox job
-- that job_id names (River's river_job.id: a job that had not started
-- when the row committed, so it sees the row) and is cleared once
-- processed; the row stays as the replay guard.
CREATE TABLE inbox_activities (
    id {{serial}},
    dedupe_key TEXT NOT NULL UNIQUE,
    signer TEXT NOT NULL,
    body {{blob}},
    received_at BIGINT NOT NULL,
    job_id BIGINT
);
CREATE INDEX inbox_activities_received_at ON inbox_activities (received_at);
CREATE INDEX inbox_activities_job_id ON inbox_activities (job_id);

CREATE TABLE blocked_domains (
    domain TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id {{serial}},
    actor_id BIGINT NOT NULL,
    -- recipient is the actor delivered to, whose inbox (its shared inbox
    -- when it offers one) is looked up at send time; inbox, when set, is
    -- used as is.
    recipient TEXT NOT NULL DEFAULT '',
    inbox TEXT NOT NULL DEFAULT '',
    activity_id TEXT NOT NULL,
    activity {{blob}} NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_activity_id ON deliveries (activity_id);
