-- The same table as PostgreSQL's, for one schema on both backends. SQLite
-- serves one process, which de-duplicates login codes in memory; the table
-- stays empty there.
CREATE TABLE login_codes (
    appid               TEXT NOT NULL,
    code_hash           TEXT NOT NULL,
    claimed_at          BIGINT NOT NULL,
    finished_at         BIGINT,
    openid              TEXT,
    unionid             TEXT,
    session_key_sealed  TEXT,
    error_code          INTEGER,
    error_message       TEXT,
    PRIMARY KEY (appid, code_hash)
);

-- Instances alive on this database, by a heartbeat every half second: an
-- instance that sees no other one keeps its login codes in memory and pays
-- no round trip per login for the sharing above.
CREATE TABLE instances (
    id       TEXT PRIMARY KEY NOT NULL,
    seen_at  BIGINT NOT NULL
);
