-- How a published calendar's events take participants (issue 19):
-- free (a Join is accepted at once), restricted (held until the organiser
-- answers with `passerelle publish approve SLUG ACTOR --event EVENT`),
-- external or none (a Join is ignored: the event takes no participants
-- here). Existing calendars keep what they had: free.
ALTER TABLE published_calendars ADD COLUMN join_mode TEXT NOT NULL DEFAULT 'free';

-- A participant of a published event is accepted or, for a restricted
-- calendar, pending until the organiser answers. Only accepted ones count
-- (participantCount, the attendees collection), as in Mobilizon.
ALTER TABLE published_participants ADD COLUMN state TEXT NOT NULL DEFAULT 'accepted';
