-- Index whoever is still waiting, then go back to unconditional triggers.
INSERT INTO users_nickname_fts (rowid, nickname)
    SELECT id, nickname FROM users
    WHERE id > (SELECT up_to FROM users_nickname_fts_watermark) AND nickname IS NOT NULL;

DROP TRIGGER users_nickname_fts_delete;
CREATE TRIGGER users_nickname_fts_delete AFTER DELETE ON users
WHEN old.nickname IS NOT NULL
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        VALUES ('delete', old.id, old.nickname);
END;

DROP TRIGGER users_nickname_fts_update;
CREATE TRIGGER users_nickname_fts_update AFTER UPDATE OF nickname ON users
BEGIN
    INSERT INTO users_nickname_fts (users_nickname_fts, rowid, nickname)
        SELECT 'delete', old.id, old.nickname WHERE old.nickname IS NOT NULL;
    INSERT INTO users_nickname_fts (rowid, nickname)
        SELECT new.id, new.nickname WHERE new.nickname IS NOT NULL;
END;

DROP TABLE users_nickname_fts_watermark;
