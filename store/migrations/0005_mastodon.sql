-- Mastodon cross-posting: connected accounts, which sources post to which
-- accounts, and every status passerelle made for an event, so that it is
-- posted exactly once, then edited or deleted.

CREATE TABLE mastodon_accounts (
    id            {{serial}},
    instance      TEXT    NOT NULL,
    -- acct is @user@host: the name commands use.
    acct          TEXT    NOT NULL UNIQUE,
    remote_id     TEXT    NOT NULL,
    client_id     TEXT    NOT NULL DEFAULT '',
    client_secret TEXT    NOT NULL DEFAULT '',
    token         TEXT    NOT NULL,
    -- active, or needs_reconnection after the instance refused the token.
    state         TEXT    NOT NULL,
    last_error    TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL
);

CREATE TABLE mastodon_routes (
    id               {{serial}},
    source_id        BIGINT  NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    account_id       BIGINT  NOT NULL REFERENCES mastodon_accounts (id) ON DELETE CASCADE,
    visibility       TEXT    NOT NULL,
    -- triggers is a comma-separated subset of create,update,cancel,delete.
    triggers         TEXT    NOT NULL,
    reminder_seconds BIGINT  NOT NULL DEFAULT 0,
    -- reminder_as is reply (in the event's thread) or status (a new one).
    reminder_as      TEXT    NOT NULL DEFAULT 'reply',
    template         TEXT    NOT NULL DEFAULT '',
    UNIQUE (source_id, account_id)
);

-- One row per status of an event on an account: kind "status" is the
-- event's own, others are replies in its thread ("cancel", "update:N",
-- "reminder:UNIX"). A pending row is an attempt whose outcome is unknown.
CREATE TABLE mastodon_posts (
    event_id     BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    account_id   BIGINT  NOT NULL REFERENCES mastodon_accounts (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    status_id    TEXT    NOT NULL DEFAULT '',
    version      INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    media_id     TEXT    NOT NULL DEFAULT '',
    attempted_at BIGINT  NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (event_id, account_id, kind)
);
CREATE INDEX mastodon_posts_state ON mastodon_posts (state);

-- Which job works on an (event, account) thread, until when: jobs of one
-- thread never post side by side, across replicas too.
CREATE TABLE mastodon_claims (
    event_id   BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    owner      TEXT   NOT NULL,
    until_at   BIGINT NOT NULL,
    PRIMARY KEY (event_id, account_id)
);
