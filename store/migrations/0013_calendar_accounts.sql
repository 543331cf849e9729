-- Calendar accounts (issue 16): each participant signs in to /dav/ with
-- their address and a calendar password, sees their invitations as a
-- calendar and answers from their calendar app.
--
-- Only the password's SHA-256 is kept (it is random, 100 bits: a slow
-- hash adds nothing). The password itself is derived from the instance
-- secret and the generation, so every mail can carry it again; a new
-- generation replaces it.
ALTER TABLE participants ADD COLUMN calendar_password_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE participants ADD COLUMN calendar_password_gen BIGINT NOT NULL DEFAULT 0;

-- hidden: the participant deleted the event from their calendar (a
-- decline, RFC 6638 §3.2.2.3); a later answer other than no shows it again.
-- attendee_extras: what the participant added to their copy (alarms, X-
-- properties, categories), kept for them alone and never sent anywhere.
ALTER TABLE invitations ADD COLUMN hidden BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invitations ADD COLUMN attendee_extras TEXT NOT NULL DEFAULT '';

-- The change log of each participant's calendar: one row when one of their
-- invitations changes (an answer, by any channel) and one per invitee when
-- an event they are invited to changes. Sync tokens are its sequence, as
-- the public calendars' are change_log's.
CREATE TABLE personal_log (
    seq            {{serial}},
    participant_id BIGINT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    event_id       BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at             BIGINT NOT NULL
);
CREATE INDEX personal_log_participant_seq ON personal_log (participant_id, seq);
INSERT INTO personal_log (participant_id, event_id, at)
    SELECT participant_id, event_id, updated_at FROM invitations ORDER BY id;
