-- An event's change reaches its invitees a chunk at a time, read by
-- invitation id after the last one told (bridges.FanoutJob): this index
-- gives them in that order on PostgreSQL too (SQLite's carried the rowid
-- already), and serves every look-up by event the old one did.
CREATE INDEX invitations_event_id ON invitations (event_id, id);
DROP INDEX invitations_event;
