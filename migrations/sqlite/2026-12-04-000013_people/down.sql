-- Back to a user per (appid, openid): each person keeps its oldest identity.
-- A person's other identities (and their sessions) are lost, as are
-- tombstones. (Foreign keys are off during SQLite's migrations.)
CREATE TABLE old_users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    appid              TEXT NOT NULL REFERENCES apps (appid),
    openid             TEXT NOT NULL,
    unionid            TEXT,
    nickname           TEXT,
    avatar_url         TEXT,
    gender             INTEGER,
    language           TEXT,
    city               TEXT,
    province           TEXT,
    country            TEXT,
    phone_number       TEXT,
    pure_phone_number  TEXT,
    country_code       TEXT,
    banned_at          BIGINT,
    ban_reason         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_login_at      BIGINT,
    CONSTRAINT users_appid_openid_key UNIQUE (appid, openid)
);
INSERT INTO old_users
    SELECT u.id, i.appid, i.openid, i.unionid, u.nickname, u.avatar_url, u.gender, u.language,
           u.city, u.province, u.country, u.phone_number, u.pure_phone_number, u.country_code,
           u.banned_at, u.ban_reason, u.created_at, u.updated_at, u.last_login_at
    FROM users u
    JOIN identities i ON i.id = (SELECT MIN(id) FROM identities WHERE user_id = u.id);
DELETE FROM sessions WHERE user_id NOT IN (SELECT id FROM old_users);
DROP TABLE users;
ALTER TABLE old_users RENAME TO users;
CREATE INDEX users_unionid_idx ON users (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX users_pure_phone_number_idx ON users (pure_phone_number)
    WHERE pure_phone_number IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE TRIGGER users_nickname_fts_delete AFTER DELETE ON users
WHEN old.nickname IS NOT NULL
    AND old.id <= (SELECT up_to FROM users_nickname_fts_watermark)
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        VALUES ('delete', old.id, old.nickname);
END;
CREATE TRIGGER users_nickname_fts_update AFTER UPDATE OF nickname ON users
WHEN old.id <= (SELECT up_to FROM users_nickname_fts_watermark)
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        SELECT 'delete', old.id, old.nickname WHERE old.nickname IS NOT NULL;
    INSERT INTO users_nickname_fts (rowid, nickname)
        SELECT new.id, new.nickname WHERE new.nickname IS NOT NULL;
END;
ALTER TABLE sessions DROP COLUMN identity_id;
ALTER TABLE apps DROP COLUMN platform;
DROP TABLE unionids;
DROP TABLE identities;
