DROP INDEX sessions_active_last_seen_idx;
CREATE INDEX sessions_active_last_seen_idx ON sessions (last_seen_at) WHERE revoked_at IS NULL;
DROP INDEX users_nickname_trgm_idx;
DROP INDEX users_created_at_idx;
DROP INDEX users_openid_idx;
