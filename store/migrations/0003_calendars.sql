-- Calendars (CalDAV and .ics feeds): what makes their reads a database
-- read and a byte copy.

-- A time-range query asks for events with start_at < range end and
-- until_at >= range start. Bounding start_at from below by the longest
-- event's span (read from events_span in one index step) turns that into
-- a short range of this index, checked on until_at without reading rows.
CREATE INDEX events_range ON events (start_at, until_at);
CREATE INDEX events_span ON events ((until_at - start_at));

-- The assembled feed of each calendar, kept at the version it was built
-- for (the calendar's last change-log sequence and a digest of the feed's
-- own properties): a feed request after the first is a read of one row,
-- whichever replica built it. Rebuilt on the first request after a change.
CREATE TABLE calendar_feeds (
    owner     TEXT    NOT NULL,
    slug      TEXT    NOT NULL,
    seq       BIGINT  NOT NULL,
    version   TEXT    NOT NULL,
    body      {{blob}} NOT NULL,
    body_gzip {{blob}} NOT NULL,
    built_at  BIGINT  NOT NULL,
    PRIMARY KEY (owner, slug)
);
