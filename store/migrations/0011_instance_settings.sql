-- Facts about the instance that must outlive a change of its
-- configuration. public_url is the URL every local actor id, Follow and
-- Join was made under: serve compares it with the configured one, since a
-- new public_url silently changes every actor id and breaks every follow.
CREATE TABLE instance_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
