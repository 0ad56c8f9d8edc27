CREATE TABLE unionids (
    platform    TEXT NOT NULL,
    unionid     TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (platform, unionid)
);
INSERT INTO unionids (platform, unionid, user_id, created_at)
    SELECT platform, unionid, user_id, created_at FROM identities WHERE holds_unionid;
DROP INDEX identities_unionid_key;
ALTER TABLE identities DROP COLUMN holds_unionid;
CREATE INDEX identities_unionid_idx ON identities (unionid) WHERE unionid IS NOT NULL;
