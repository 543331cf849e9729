-- Published calendars (issue 19): a community's existing calendar (an .ics
-- or webcal:// feed, or a CalDAV collection that answers GET) published as
-- a followable ActivityPub Group. Each has a local actor of kind 'calendar'
-- (its key signs what is sent to its followers).
--
-- etag / last_modified are the validators of the last good fetch, sent
-- back as If-None-Match / If-Modified-Since. last_error is the reason the
-- last poll was refused (empty once one succeeds); last_poll and last_ok
-- say when.
CREATE TABLE published_calendars (
    id            {{serial}},
    slug          TEXT   NOT NULL UNIQUE,
    actor_id      BIGINT NOT NULL REFERENCES local_actors (id),
    url           TEXT   NOT NULL,
    username      TEXT   NOT NULL DEFAULT '',
    password      TEXT   NOT NULL DEFAULT '',
    title         TEXT   NOT NULL DEFAULT '',
    summary       TEXT   NOT NULL DEFAULT '',
    contact       TEXT   NOT NULL DEFAULT '',
    approve       BOOLEAN NOT NULL DEFAULT FALSE,
    etag          TEXT   NOT NULL DEFAULT '',
    last_modified TEXT   NOT NULL DEFAULT '',
    last_error    TEXT   NOT NULL DEFAULT '',
    last_poll     BIGINT NOT NULL DEFAULT 0,
    last_ok       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- The followers of a published calendar's Group: where its activities go
-- (the shared inbox when the follower offers one). A calendar published
-- with --approve holds each new follower pending until the admin answers.
CREATE TABLE published_followers (
    calendar_id  BIGINT NOT NULL REFERENCES published_calendars (id) ON DELETE CASCADE,
    actor        TEXT   NOT NULL,
    inbox        TEXT   NOT NULL DEFAULT '',
    shared_inbox TEXT   NOT NULL DEFAULT '',
    follow_id    TEXT   NOT NULL DEFAULT '',
    state        TEXT   NOT NULL DEFAULT 'accepted',
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (calendar_id, actor)
);

-- The events of a published calendar, one row per (UID, RECURRENCE-ID);
-- recurrence_id is '' for a non-recurring event. ev_key is the stable, URL-
-- safe part of the Event's id. hash is the SHA-256 of the Event object as
-- last sent, so a poll that changes nothing sends nothing. state is live,
-- cancelled or deleted (a deleted event answers 410 with a Tombstone).
CREATE TABLE published_events (
    id            {{serial}},
    calendar_id   BIGINT NOT NULL REFERENCES published_calendars (id) ON DELETE CASCADE,
    uid           TEXT   NOT NULL,
    recurrence_id TEXT   NOT NULL DEFAULT '',
    ev_key        TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    object        TEXT   NOT NULL,
    starts_at     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (calendar_id, uid, recurrence_id),
    UNIQUE (calendar_id, ev_key)
);

-- Joins of published events: the participant, kept so a Leave undoes it.
CREATE TABLE published_participants (
    event_id   BIGINT NOT NULL REFERENCES published_events (id) ON DELETE CASCADE,
    actor      TEXT   NOT NULL,
    join_id    TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, actor)
);
