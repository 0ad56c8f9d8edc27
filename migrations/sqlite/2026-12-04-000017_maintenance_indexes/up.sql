-- The purge of shared login codes and the heartbeat's drop of full
-- rate-limit buckets delete in bounded batches, oldest first: each batch
-- finds its rows through these indexes instead of reading the whole table.
CREATE INDEX login_codes_claimed_at_idx ON login_codes (claimed_at);
CREATE INDEX rate_limits_full_at_idx ON rate_limits (full_at);
