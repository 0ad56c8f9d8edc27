-- Login codes in exchange, shared by every instance on this database: the
-- first instance to claim (appid, code) asks WeChat, the others wait for its
-- outcome here (SPEC §1.3: a retried code is not sent to WeChat again, on
-- whichever instance it lands). Rows matter for seconds, so the table is
-- UNLOGGED: no WAL per login; a crash of PostgreSQL empties it, and a code
-- in exchange at that moment is simply asked for again.
-- The code is kept as its SHA-256 (it is a credential for five minutes); the
-- session_key only sealed, as in sessions.
CREATE UNLOGGED TABLE login_codes (
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
CREATE UNLOGGED TABLE instances (
    id       TEXT PRIMARY KEY NOT NULL,
    seen_at  BIGINT NOT NULL
);
