-- The console's user search at a million users: openid alone, and nickname
-- substrings through a pg_trgm GIN index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_openid_idx ON users (openid);
-- The overview's new users of the day.
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_nickname_trgm_idx ON users USING gin (nickname gin_trgm_ops);

-- Active sessions by latest activity, with the id as the keyset tie-breaker.
DROP INDEX sessions_active_last_seen_idx;
CREATE INDEX sessions_active_last_seen_idx ON sessions (last_seen_at, id) WHERE revoked_at IS NULL;
