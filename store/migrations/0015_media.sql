-- Media through passerelle (issue 18): remote images (banners, images in
-- descriptions) fetched once and served from /media/<hash>, so that pages,
-- mails and calendars load nothing from the events' servers.
--
-- The bytes live in the database rather than in data_dir: every replica
-- serves the same image without fetching it again, and a backup of the
-- database holds them. hash is the hex SHA-256 of the source URL (see
-- media.Key): pages and calendars compute it from the event alone.
CREATE TABLE media (
    hash         TEXT     PRIMARY KEY,
    url          TEXT     NOT NULL,
    content_type TEXT     NOT NULL,
    body         {{blob}} NOT NULL,
    fetched_at   BIGINT   NOT NULL
);

-- Which events use which image, rewritten each time an event changes. An
-- image no longer linked to an event that is live or over for less than
-- 30 days is removed by the expiry job.
CREATE TABLE event_media (
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    hash     TEXT   NOT NULL,
    url      TEXT   NOT NULL,
    PRIMARY KEY (event_id, hash)
);
CREATE INDEX event_media_hash ON event_media (hash);
