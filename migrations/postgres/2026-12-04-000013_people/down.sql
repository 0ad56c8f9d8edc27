-- Back to a user per (appid, openid): each person keeps its oldest identity.
-- A person's other identities (and their sessions) are lost, as are tombstones.
ALTER TABLE users ADD COLUMN appid TEXT, ADD COLUMN openid TEXT, ADD COLUMN unionid TEXT;
UPDATE users u SET appid = i.appid, openid = i.openid, unionid = i.unionid
    FROM (SELECT DISTINCT ON (user_id) user_id, appid, openid, unionid
          FROM identities ORDER BY user_id, id) i
    WHERE i.user_id = u.id;
DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.appid IS NULL;
DELETE FROM users WHERE appid IS NULL;
ALTER TABLE users ALTER COLUMN appid SET NOT NULL, ALTER COLUMN openid SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_appid_openid_key UNIQUE (appid, openid);
ALTER TABLE users ADD CONSTRAINT users_appid_fkey FOREIGN KEY (appid) REFERENCES apps (appid);
CREATE INDEX users_unionid_idx ON users (unionid) WHERE unionid IS NOT NULL;
ALTER TABLE users DROP COLUMN merged_into;
ALTER TABLE sessions DROP COLUMN identity_id;
ALTER TABLE apps DROP COLUMN platform;
DROP TABLE unionids;
DROP TABLE identities;
