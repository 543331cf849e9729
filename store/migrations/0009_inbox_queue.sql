-- The inbox records what it accepted as cheaply as it can before its 202,
-- and the replay guard moves to the inbox job (as Mastodon's inbox does:
-- verify and enqueue in the request, deduplicate while processing).
-- inbox_activities held both, and each accepted activity cost four B-tree
-- inserts (table, AUTOINCREMENT counter, the unique dedupe key, two
-- indexes) before the answer; inbox_pending costs two.

-- Verified activities waiting for the inbox job that job_id names
-- (River's river_job.id: a job that had not started when the row
-- committed, so it sees the row). The job deletes the rows it processed.
-- A plain rowid: ids are only ever compared within one job's rows.
CREATE TABLE inbox_pending (
    id {{rowid}},
    job_id BIGINT NOT NULL,
    signer TEXT NOT NULL,
    body {{blob}} NOT NULL
);
CREATE INDEX inbox_pending_job_id ON inbox_pending (job_id);

-- The replay guard: the id plus a digest of the body of each activity
-- processed (Mobilizon reuses one id for a Create and all its Updates, so
-- the id alone would lose updates, while a replay of the same document is
-- dropped). A replay can only pass the signature's Date check within twice
-- the accepted window of the first delivery, so older keys are pruned.
CREATE TABLE inbox_seen (
    dedupe_key TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX inbox_seen_seen_at ON inbox_seen (seen_at);

INSERT INTO inbox_pending (job_id, signer, body)
    SELECT job_id, signer, body FROM inbox_activities
    WHERE body IS NOT NULL AND job_id IS NOT NULL ORDER BY id;
INSERT INTO inbox_seen (dedupe_key, seen_at)
    SELECT dedupe_key, received_at FROM inbox_activities WHERE body IS NULL;
DROP TABLE inbox_activities;
