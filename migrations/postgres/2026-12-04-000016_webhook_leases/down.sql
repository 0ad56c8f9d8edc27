DROP INDEX webhook_outbox_endpoint_due_idx;
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
ALTER TABLE webhook_outbox DROP COLUMN lease_token;
