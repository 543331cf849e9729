-- Mail RSVP: participants known only by an address, their invitations and
-- participations, reply tokens (hashed), the mail log, and the watched
-- IMAP mailbox's bookkeeping. The address is stored here and nowhere else.

CREATE TABLE participants (
    id             {{serial}},
    address        TEXT    NOT NULL,
    -- address_key is the lower-cased address: the same person writing
    -- Jane@Example.net or jane@example.net is one participant.
    address_key    TEXT    NOT NULL UNIQUE,
    actor_id       BIGINT  REFERENCES local_actors (id) ON DELETE SET NULL,
    display_name   TEXT    NOT NULL DEFAULT '',
    calendar_token TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL
);

CREATE TABLE invitations (
    id             {{serial}},
    participant_id BIGINT  NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    event_id       BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    state          TEXT    NOT NULL,
    join_id        TEXT    NOT NULL DEFAULT '',
    thread         TEXT    NOT NULL DEFAULT '',
    answered_at    BIGINT  NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    UNIQUE (participant_id, event_id)
);
CREATE INDEX invitations_event ON invitations (event_id);
CREATE INDEX invitations_join ON invitations (join_id);

-- One token per mail sent, generated when the mail is composed; only its
-- SHA-256 is kept, so the database alone cannot answer for anyone.
CREATE TABLE invitation_tokens (
    token_hash    TEXT   PRIMARY KEY,
    invitation_id BIGINT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL
);
CREATE INDEX invitation_tokens_invitation ON invitation_tokens (invitation_id);

-- Every mail sent (direction 'out') or processed ('in'), by Message-ID:
-- replies are threaded back to invitations, and a mail seen twice (an
-- IMAP re-fetch, an MTA retry) is processed once.
CREATE TABLE mail_log (
    id            {{serial}},
    direction     TEXT   NOT NULL,
    message_id    TEXT   NOT NULL,
    invitation_id BIGINT REFERENCES invitations (id) ON DELETE SET NULL,
    kind          TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL,
    detail        TEXT   NOT NULL DEFAULT '',
    at            BIGINT NOT NULL,
    UNIQUE (direction, message_id)
);
CREATE INDEX mail_log_invitation ON mail_log (invitation_id);

-- Addresses that asked for no more mail, by SHA-256 of the lower-cased
-- address, so that the wish outlives `participant erase`.
CREATE TABLE mail_unsubscribed (
    address_hash TEXT   PRIMARY KEY,
    at           BIGINT NOT NULL
);

-- The watched mailbox: UIDVALIDITY and the last UID processed, and the
-- lease that lets one replica at a time watch it.
CREATE TABLE imap_state (
    mailbox      TEXT   PRIMARY KEY,
    uid_validity BIGINT NOT NULL DEFAULT 0,
    last_uid     BIGINT NOT NULL DEFAULT 0,
    lease_holder TEXT   NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0
);

-- Who asked for every event of a source (a mail to local+join-SLUG@):
-- each new public event of the source sends them an invitation, which
-- stays the opt-in for that event.
CREATE TABLE source_subscriptions (
    participant_id BIGINT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    source_id      BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (participant_id, source_id)
);
CREATE INDEX source_subscriptions_source ON source_subscriptions (source_id);

-- Secret tokens that open a participant's personal calendar (feed and
-- CalDAV). One is minted per mail that links to it and only its SHA-256
-- kept, like reply tokens: every link sent stays valid, none is stored.
CREATE TABLE calendar_tokens (
    token_hash     TEXT   PRIMARY KEY,
    participant_id BIGINT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL
);
CREATE INDEX calendar_tokens_participant ON calendar_tokens (participant_id);
