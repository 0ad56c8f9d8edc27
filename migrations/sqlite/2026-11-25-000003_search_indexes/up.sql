-- The console's user search at a million users: openid alone, and nickname
-- substrings through an FTS5 trigram index kept in step by triggers.
CREATE INDEX users_openid_idx ON users (openid);
-- The overview's new users of the day.
CREATE INDEX users_created_at_idx ON users (created_at);

CREATE VIRTUAL TABLE users_nickname_fts USING fts5(
    nickname, content = 'users', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO users_nickname_fts (rowid, nickname)
    SELECT id, nickname FROM users WHERE nickname IS NOT NULL;

CREATE TRIGGER users_nickname_fts_insert AFTER INSERT ON users
WHEN new.nickname IS NOT NULL
BEGIN
    INSERT INTO users_nickname_fts (rowid, nickname) VALUES (new.id, new.nickname);
END;

CREATE TRIGGER users_nickname_fts_delete AFTER DELETE ON users
WHEN old.nickname IS NOT NULL
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        VALUES ('delete', old.id, old.nickname);
END;

CREATE TRIGGER users_nickname_fts_update AFTER UPDATE OF nickname ON users
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        SELECT 'delete', old.id, old.nickname WHERE old.nickname IS NOT NULL;
    INSERT INTO users_nickname_fts (rowid, nickname)
        SELECT new.id, new.nickname WHERE new.nickname IS NOT NULL;
END;

-- Active sessions by latest activity, with the id as the keyset tie-breaker.
DROP INDEX sessions_active_last_seen_idx;
CREATE INDEX sessions_active_last_seen_idx ON sessions (last_seen_at, id) WHERE revoked_at IS NULL;
