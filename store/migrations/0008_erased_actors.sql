-- Participant actors removed after `participant erase`: once the last
-- Leave and the Delete signed with their key were delivered (or given up),
-- their local_actors row and key go, and this row lets their URL answer
-- 410 Gone with a Tombstone rather than 404, as ActivityPub §7.2 suggests
-- for deleted objects. Only the random username and dates: nothing about
-- the person.
CREATE TABLE erased_actors (
    username   TEXT   PRIMARY KEY,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL
);

-- The erase job asks, until they are done, whether an actor still has
-- deliveries waiting.
CREATE INDEX deliveries_actor_state ON deliveries (actor_id, state);
