-- The serve processes that ran on this database (`passerelle status` lists
-- those seen lately): each writes its row every 30 seconds.
CREATE TABLE replicas (
    holder     TEXT   PRIMARY KEY,
    version    TEXT   NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- When passerelle last read a source's events itself (a backfill or
-- `sources refresh`) without an error: last_activity says when the source
-- last sent something, this says whether passerelle can still reach it.
ALTER TABLE sources ADD COLUMN last_fetch BIGINT NOT NULL DEFAULT 0;
