-- Answers from the fediverse (issue 17): replies "going" under an event's
-- status, read from the community account's mentions, make the person a
-- participant; they hear back in one direct reply per change.

-- The scopes the account's token was granted; '' for an account connected
-- before passerelle asked for read:notifications, which must be connected
-- again before its mentions are read.
ALTER TABLE mastodon_accounts ADD COLUMN scopes TEXT NOT NULL DEFAULT '';

-- Reading an account's mentions: the newest notification read, the lease
-- that lets one replica read each account, and the backoff after errors.
CREATE TABLE mastodon_mentions (
    account_id   BIGINT  PRIMARY KEY REFERENCES mastodon_accounts (id) ON DELETE CASCADE,
    cursor       TEXT    NOT NULL DEFAULT '',
    lease_holder TEXT    NOT NULL DEFAULT '',
    lease_until  BIGINT  NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT  NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT ''
);

-- Replies are matched to the event whose status they answer.
CREATE INDEX mastodon_posts_status ON mastodon_posts (account_id, status_id);

-- A participant who answered from the fediverse is known by the URI of
-- their account (address is '' and address_key 'fediverse:' || the URI).
ALTER TABLE participants ADD COLUMN fediverse_uri TEXT NOT NULL DEFAULT '';

-- Where a fediverse participant hears back about an invitation: from the
-- community account whose post they answered, in reply to their last
-- answer, mentioning their handle (which is kept here and nowhere else).
CREATE TABLE mastodon_answerers (
    invitation_id BIGINT NOT NULL PRIMARY KEY REFERENCES invitations (id) ON DELETE CASCADE,
    account_id    BIGINT NOT NULL REFERENCES mastodon_accounts (id) ON DELETE CASCADE,
    acct          TEXT   NOT NULL,
    status_id     TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Replies read, by status and edit: one read twice (the process stopped
-- before the cursor was saved) is acted on once; an edited one is new.
CREATE TABLE mastodon_replies_seen (
    account_id BIGINT NOT NULL REFERENCES mastodon_accounts (id) ON DELETE CASCADE,
    status_id  TEXT   NOT NULL,
    edited_at  TEXT   NOT NULL DEFAULT '',
    at         BIGINT NOT NULL,
    PRIMARY KEY (account_id, status_id, edited_at)
);

-- Direct replies to participants, one per notice (its job's key): pending
-- from just before the POST until its id is recorded; a pending one met
-- again is looked for among the account's statuses before posting again.
CREATE TABLE mastodon_directs (
    job_key       TEXT   PRIMARY KEY,
    invitation_id BIGINT REFERENCES invitations (id) ON DELETE SET NULL,
    notice        TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    status_id     TEXT   NOT NULL DEFAULT '',
    attempted_at  BIGINT NOT NULL DEFAULT 0,
    error         TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX mastodon_directs_invitation ON mastodon_directs (invitation_id);
