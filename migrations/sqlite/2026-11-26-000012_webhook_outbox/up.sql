-- The webhooks' transactional outbox: one row per event and endpoint,
-- written in the transaction of the change it reports, then delivered at
-- least once by a background worker. A worker leases a row (leased_until)
-- before sending it, so that one instance delivers each row at a time.
CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    leased_until     BIGINT,
    delivered_at     BIGINT,
    failed_at        BIGINT,
    last_status      INTEGER,
    last_answer      TEXT
);
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_outbox_created_at_idx ON webhook_outbox (created_at);
