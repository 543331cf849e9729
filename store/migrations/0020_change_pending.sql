-- Change-log entries waiting for their sequence number (issue 20). On
-- PostgreSQL a transaction that changes an event no longer appends to
-- change_log or personal_log itself: it writes here, and once it has
-- committed, one short statement numbers every committed pending entry in
-- turn, under the change log's lock (store.DB.sequenceChanges). Numbering
-- inside the transaction needed that lock from the append to the commit,
-- across the client's round trips, and every replica's writes queued on it.
-- SQLite, one writer at a time, still appends directly; these stay empty.
CREATE TABLE change_pending (
    id        {{serial}},
    source_id BIGINT,
    event_id  BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    kind      TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE TABLE personal_pending (
    id             {{serial}},
    participant_id BIGINT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    event_id       BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at             BIGINT NOT NULL
);

-- An event's last change-log sequence was stamped on its row, which took
-- one more statement per change; nothing read it.
ALTER TABLE events DROP COLUMN change_seq;
