-- Webhook delivery from a steady pool with a few slots per endpoint (issue
-- 28): due rows are looked up per endpoint, so the pending rows' index leads
-- with it — a dead endpoint's backlog is never walked to find a healthy
-- endpoint's rows. An instance leases only rows of endpoints it knows.
-- `lease_token` names the worker holding a row's lease: only it records the
-- attempt's outcome, so a worker that stalled past its lease cannot
-- overwrite a newer attempt.
ALTER TABLE webhook_outbox ADD COLUMN lease_token TEXT;
DROP INDEX webhook_outbox_due_idx;
CREATE INDEX webhook_outbox_endpoint_due_idx ON webhook_outbox (endpoint, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
