-- passerelle's first schema. Portable SQL for SQLite and PostgreSQL:
-- {{serial}} is the auto-increment primary key, {{blob}} the binary type.
-- Timestamps are unix microseconds (BIGINT, 0 = none) so that both
-- databases compare and index them the same way.

CREATE TABLE sources (
    id            {{serial}},
    slug          TEXT    NOT NULL UNIQUE,
    actor_url     TEXT    NOT NULL UNIQUE,
    handle        TEXT    NOT NULL DEFAULT '',
    software      TEXT    NOT NULL DEFAULT 'generic',
    name          TEXT    NOT NULL DEFAULT '',
    summary       TEXT    NOT NULL DEFAULT '',
    inbox         TEXT    NOT NULL DEFAULT '',
    shared_inbox  TEXT    NOT NULL DEFAULT '',
    outbox        TEXT    NOT NULL DEFAULT '',
    events_url    TEXT    NOT NULL DEFAULT '',
    follow_id     TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL,
    last_activity BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE events (
    id                         {{serial}},
    ap_id                      TEXT    NOT NULL UNIQUE,
    source_id                  BIGINT  REFERENCES sources (id) ON DELETE SET NULL,
    url                        TEXT    NOT NULL DEFAULT '',
    title                      TEXT    NOT NULL,
    description_html           TEXT    NOT NULL DEFAULT '',
    description_text           TEXT    NOT NULL DEFAULT '',
    summary                    TEXT    NOT NULL DEFAULT '',
    start_at                   BIGINT  NOT NULL,
    end_at                     BIGINT  NOT NULL DEFAULT 0,
    -- until_at is end_at, or start_at when the event has no end: the one
    -- column a time-range query compares with the range start.
    until_at                   BIGINT  NOT NULL,
    timezone                   TEXT    NOT NULL DEFAULT '',
    status                     TEXT    NOT NULL,
    join_mode                  TEXT    NOT NULL,
    external_participation_url TEXT    NOT NULL DEFAULT '',
    max_capacity               INTEGER NOT NULL DEFAULT 0,
    remaining_capacity         INTEGER,
    participant_count          INTEGER NOT NULL DEFAULT 0,
    online                     BOOLEAN NOT NULL DEFAULT FALSE,
    online_url                 TEXT    NOT NULL DEFAULT '',
    place_name                 TEXT    NOT NULL DEFAULT '',
    place_street               TEXT    NOT NULL DEFAULT '',
    place_postal_code          TEXT    NOT NULL DEFAULT '',
    place_locality             TEXT    NOT NULL DEFAULT '',
    place_region               TEXT    NOT NULL DEFAULT '',
    place_country              TEXT    NOT NULL DEFAULT '',
    latitude                   DOUBLE PRECISION,
    longitude                  DOUBLE PRECISION,
    tags                       TEXT    NOT NULL DEFAULT '[]',
    category                   TEXT    NOT NULL DEFAULT '',
    language                   TEXT    NOT NULL DEFAULT '',
    banner_url                 TEXT    NOT NULL DEFAULT '',
    banner_alt                 TEXT    NOT NULL DEFAULT '',
    organizer_name             TEXT    NOT NULL DEFAULT '',
    organizer_url              TEXT    NOT NULL DEFAULT '',
    draft                      BOOLEAN NOT NULL DEFAULT FALSE,
    public                     BOOLEAN NOT NULL DEFAULT TRUE,
    published                  BIGINT  NOT NULL DEFAULT 0,
    updated                    BIGINT  NOT NULL DEFAULT 0,
    sequence                   INTEGER NOT NULL DEFAULT 0,
    raw                        TEXT    NOT NULL DEFAULT '',
    calendar                   TEXT    NOT NULL DEFAULT '',
    etag                       TEXT    NOT NULL DEFAULT '',
    change_seq                 BIGINT  NOT NULL DEFAULT 0,
    deleted                    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                 BIGINT  NOT NULL,
    modified_at                BIGINT  NOT NULL
);
CREATE INDEX events_start ON events (start_at);
CREATE INDEX events_until ON events (until_at);
CREATE INDEX events_source_start ON events (source_id, start_at);

-- Every change to an event, in commit order: CalDAV sync tokens are
-- sequences here, so a sync reads only what changed since.
CREATE TABLE change_log (
    seq       {{serial}},
    source_id BIGINT,
    event_id  BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    kind      TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX change_log_source_seq ON change_log (source_id, seq);

-- Every actor passerelle speaks as: the instance actor, and one
-- pseudonymous Person per email participant.
CREATE TABLE local_actors (
    id              {{serial}},
    kind            TEXT   NOT NULL,
    username        TEXT   NOT NULL UNIQUE,
    display_name    TEXT   NOT NULL DEFAULT '',
    private_key_pem TEXT   NOT NULL,
    public_key_pem  TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
