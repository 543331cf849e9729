-- Mobilizon never sends Update or Delete of an event to its remote
-- participants: passerelle re-fetches every event someone answered, on a
-- schedule that tightens as the event nears. One row per such event: the
-- validators of the last answer (for a conditional GET) and when the
-- next re-fetch is due.
CREATE TABLE event_refetch (
    event_id      BIGINT  PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    etag          TEXT    NOT NULL DEFAULT '',
    last_modified TEXT    NOT NULL DEFAULT '',
    next_at       BIGINT  NOT NULL DEFAULT 0,
    checked_at    BIGINT  NOT NULL DEFAULT 0,
    last_status   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX event_refetch_next ON event_refetch (next_at);
