DROP INDEX sessions_active_last_seen_idx;
CREATE INDEX sessions_active_last_seen_idx ON sessions (last_seen_at) WHERE revoked_at IS NULL;
DROP TRIGGER users_nickname_fts_update;
DROP TRIGGER users_nickname_fts_delete;
DROP TRIGGER users_nickname_fts_insert;
DROP TABLE users_nickname_fts;
DROP INDEX users_created_at_idx;
DROP INDEX users_openid_idx;
