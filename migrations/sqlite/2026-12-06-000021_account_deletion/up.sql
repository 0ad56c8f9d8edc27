-- A person's own deletion (SPEC §12, 注销): when it was asked for, and the
-- moment after which the background purge erases them. A login before then
-- clears both (the deletion is cancelled).
ALTER TABLE users ADD COLUMN deletion_requested_at BIGINT;
ALTER TABLE users ADD COLUMN delete_after BIGINT;
-- The purge finds the people due by this, not by reading the table.
CREATE INDEX users_delete_after_idx ON users (delete_after) WHERE delete_after IS NOT NULL;
-- The person a webhook delivery is about, so that their erasure takes the
-- deliveries that carry their data (profile, openids, addresses) with it.
ALTER TABLE webhook_outbox ADD COLUMN user_id BIGINT;
CREATE INDEX webhook_outbox_user_id_idx ON webhook_outbox (user_id) WHERE user_id IS NOT NULL;
