CREATE TRIGGER users_nickname_fts_insert AFTER INSERT ON users
WHEN new.nickname IS NOT NULL
BEGIN
    INSERT INTO users_nickname_fts (rowid, nickname) VALUES (new.id, new.nickname);
END;
