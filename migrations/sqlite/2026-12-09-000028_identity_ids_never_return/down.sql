-- Back to the plain rowid of `identities_rowid` (ids may come back).
CREATE TABLE identities_new (
    id             INTEGER PRIMARY KEY NOT NULL,
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
DELETE FROM sqlite_sequence WHERE name = 'identities';
