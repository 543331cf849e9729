-- Delivery slots: at most a few deliveries to one host are in flight at
-- once across every replica, so a slow server cannot take all the job
-- workers and is not flooded. A delivery leases a free slot (slot is
-- 0 … limit-1) before it POSTs and deletes its row, by token, after;
-- expires_at (unix µs) lets another delivery take over the slot of a
-- replica that died mid-POST.
CREATE TABLE delivery_slots (
    host       TEXT    NOT NULL,
    slot       INTEGER NOT NULL,
    token      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (host, slot)
);
