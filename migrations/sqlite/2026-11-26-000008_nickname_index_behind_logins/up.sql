-- New users' nicknames enter the FTS5 search index in batches, a few times a
-- second, instead of in every login's commit (`src/nickname_indexer.rs`): each
-- commit that touched the index wrote out a segment of its own and merged
-- segments, about 5% of a login. The search reads the few users not yet
-- indexed from `users` directly (`users::search_page`), so nothing is missed.
--
-- Users up to `up_to` are in the index; those above it are not yet. Updates
-- and deletes of an indexed user keep the index in step through the triggers;
-- for a user not yet indexed they must not touch it (deleting an entry that
-- FTS5 never had corrupts the index): the indexer reads the current nickname.
CREATE TABLE users_nickname_fts_watermark (
    id     INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    up_to  BIGINT NOT NULL
);
-- Every user so far was indexed by the login that created them.
INSERT INTO users_nickname_fts_watermark (id, up_to)
    SELECT 1, COALESCE(MAX(id), 0) FROM users;

DROP TRIGGER users_nickname_fts_delete;
CREATE TRIGGER users_nickname_fts_delete AFTER DELETE ON users
WHEN old.nickname IS NOT NULL
    AND old.id <= (SELECT up_to FROM users_nickname_fts_watermark)
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        VALUES ('delete', old.id, old.nickname);
END;

DROP TRIGGER users_nickname_fts_update;
CREATE TRIGGER users_nickname_fts_update AFTER UPDATE OF nickname ON users
WHEN old.id <= (SELECT up_to FROM users_nickname_fts_watermark)
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        SELECT 'delete', old.id, old.nickname WHERE old.nickname IS NOT NULL;
    INSERT INTO users_nickname_fts (rowid, nickname)
        SELECT new.id, new.nickname WHERE new.nickname IS NOT NULL;
END;
