-- Activities the inbox gave up on: each failed or ran too long in its batch,
-- was retried alone, and failed every attempt (a poison input such as an
-- event the renderer chokes on). They are kept, with the reason, for the
-- admin to see in `passerelle status`; the rest of their batch was stored.
CREATE TABLE inbox_rejected (
    id {{serial}},
    activity_id TEXT NOT NULL,
    signer TEXT NOT NULL,
    body {{blob}} NOT NULL,
    reason TEXT NOT NULL,
    rejected_at BIGINT NOT NULL
);
CREATE INDEX inbox_rejected_at ON inbox_rejected (rejected_at);
