-- An identity's id never comes back. Migration `identities_rowid` dropped
-- AUTOINCREMENT when identities were never deleted; an erasure (SPEC §12)
-- now deletes them, and without AUTOINCREMENT SQLite gives the next new
-- identity the id of the newest one erased: an id that webhooks and the
-- admin API had shown for someone else. PostgreSQL's sequence never
-- repeats; SQLite's ids now match it, at the cost of an update of
-- sqlite_sequence per new identity. The table is built anew (foreign keys
-- are off while migrations run, see `db::migrate`), keeping every id;
-- copying the rows sets the sequence to the highest.
CREATE TABLE identities_new (
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
    -- TRUE on the identity holding its (platform, unionid), NULL otherwise.
    holds_unionid  BOOLEAN CHECK (holds_unionid),
    CONSTRAINT identities_appid_openid_key UNIQUE (appid, openid)
);
INSERT INTO identities_new (id, user_id, platform, appid, openid, unionid, anonymous, created_at,
                            last_login_at, holds_unionid)
    SELECT id, user_id, platform, appid, openid, unionid, anonymous, created_at, last_login_at,
           holds_unionid
    FROM identities;
DROP TABLE identities;
ALTER TABLE identities_new RENAME TO identities;
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE UNIQUE INDEX identities_unionid_key ON identities (platform, unionid, holds_unionid)
    WHERE unionid IS NOT NULL;
