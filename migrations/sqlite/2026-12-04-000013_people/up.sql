-- A user is a person (SPEC §10); what they log in through — one
-- (platform, appid, openid) each — are their identities. Every existing user
-- becomes a person with one WeChat identity whose id is the user's id, so
-- that every session (now also naming its identity) and token stays valid.
--
-- `run_migrations` turns foreign keys off around SQLite's migrations: the
-- users table is rebuilt without its per-app columns, and dropping the old
-- table with foreign keys on would delete every session (ON DELETE CASCADE).

CREATE TABLE identities (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id        BIGINT NOT NULL REFERENCES users (id),
    platform       TEXT NOT NULL,
    appid          TEXT NOT NULL REFERENCES apps (appid),
    openid         TEXT NOT NULL,
    unionid        TEXT,
    -- A Douyin guest: logged in with `anonymousCode` alone.
    anonymous      BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT,
    CONSTRAINT identities_appid_openid_key UNIQUE (appid, openid)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_unionid_idx ON identities (unionid) WHERE unionid IS NOT NULL;
INSERT INTO identities (id, user_id, platform, appid, openid, unionid, anonymous, created_at,
                        last_login_at)
    SELECT id, id, 'wechat', appid, openid, unionid, 0, created_at, last_login_at FROM users;

-- Which person a platform's unionid belongs to: the first login that brings
-- it claims it (the primary key decides between concurrent ones), later
-- identities with it join that person.
CREATE TABLE unionids (
    platform    TEXT NOT NULL,
    unionid     TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (platform, unionid)
);
-- Users of different apps that already share a unionid stay apart (nothing
-- is merged silently): the oldest holds it, the others are listed as link
-- conflicts for an operator to merge.
INSERT INTO unionids (platform, unionid, user_id, created_at)
    SELECT 'wechat', unionid, MIN(id), MIN(created_at) FROM users
    WHERE unionid IS NOT NULL GROUP BY unionid;
INSERT INTO audit_events (kind, user_id, actor, detail, created_at)
    SELECT 'link_conflict', u.id, 'migration',
           'unionid ' || u.unionid || ' belongs to user ' || c.user_id,
           CAST(strftime('%s', 'now') AS INTEGER)
    FROM users u JOIN unionids c ON c.platform = 'wechat' AND c.unionid = u.unionid
    WHERE c.user_id <> u.id;

ALTER TABLE apps ADD COLUMN platform TEXT NOT NULL DEFAULT 'wechat';

-- The session's identity; the old sessions' is their user's only one.
-- (No REFERENCES: SQLite adds a referencing column only with a NULL default.)
ALTER TABLE sessions ADD COLUMN identity_id BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET identity_id = user_id;

-- The people: the old table without appid, openid and unionid, and with the
-- tombstone of a merge. Same ids, so the nickname index (whose rowids are
-- user ids) stays as it is.
CREATE TEMPORARY TABLE people_sequence AS
    SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'users'), 0) AS seq;
CREATE TABLE people (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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
    -- Set when an operator merged this person into another: a tombstone.
    merged_into        BIGINT
);
INSERT INTO people (id, nickname, avatar_url, gender, language, city, province, country,
                    phone_number, pure_phone_number, country_code, banned_at, ban_reason,
                    created_at, updated_at, last_login_at)
    SELECT id, nickname, avatar_url, gender, language, city, province, country,
           phone_number, pure_phone_number, country_code, banned_at, ban_reason,
           created_at, updated_at, last_login_at FROM users;
DROP TABLE users;
ALTER TABLE people RENAME TO users;
UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT seq FROM people_sequence)) WHERE name = 'users';
DROP TABLE people_sequence;

CREATE INDEX users_pure_phone_number_idx ON users (pure_phone_number)
    WHERE pure_phone_number IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_merged_into_idx ON users (merged_into) WHERE merged_into IS NOT NULL;
-- The nickname index's triggers went with the old table (as in 000008).
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
