-- Published calendars read the CalDAV way (issue 19, item 2): a calendar
-- collection is polled with its sync-token (RFC 6578) or CalendarServer's
-- getctag, and only its changed resources are read. kind is what the
-- first poll found the URL to be: '' (not known yet), 'feed' (GET with
-- ETag / Last-Modified) or 'caldav'. sync_token and ctag are the
-- collection's, as of the last good poll. write_attendees (publish
-- --write-attendees) writes participants back as ATTENDEEs.
ALTER TABLE published_calendars ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE published_calendars ADD COLUMN sync_token TEXT NOT NULL DEFAULT '';
ALTER TABLE published_calendars ADD COLUMN ctag TEXT NOT NULL DEFAULT '';
ALTER TABLE published_calendars ADD COLUMN write_attendees BOOLEAN NOT NULL DEFAULT FALSE;

-- The calendar object resources of a CalDAV calendar as last read: the
-- whole calendar is these plus what a sync-collection says changed, so a
-- poll reads only the changed ones. uid is the UID of the resource's
-- VEVENTs (one per resource, RFC 4791 §4.1), to find the resource of an
-- event when an ATTENDEE is written to it.
CREATE TABLE published_resources (
    calendar_id BIGINT NOT NULL REFERENCES published_calendars (id) ON DELETE CASCADE,
    href        TEXT   NOT NULL,
    etag        TEXT   NOT NULL DEFAULT '',
    uid         TEXT   NOT NULL DEFAULT '',
    data        TEXT   NOT NULL,
    PRIMARY KEY (calendar_id, href)
);
CREATE INDEX published_resources_uid ON published_resources (calendar_id, uid);
