-- Web sign-in by scanning a mini-program code (SPEC §11). A ticket is what
-- the code's `scene` carries: the browser's authorization request waiting
-- for a person to scan, confirm or deny it in the mini-program. Once
-- confirmed, the browser that showed it picks up an authorization code
-- (kept as its SHA-256), which the relying party exchanges once.
CREATE TABLE web_logins (
    id               TEXT PRIMARY KEY NOT NULL,
    client_id        TEXT NOT NULL,
    redirect_uri     TEXT NOT NULL,
    scope            TEXT NOT NULL,
    state            TEXT,
    nonce            TEXT,
    -- PKCE S256 (RFC 7636); required of public clients.
    code_challenge   TEXT,
    -- The SHA-256 of the cookie set on the browser that showed the ticket:
    -- the code goes to that browser only.
    browser_hash     TEXT NOT NULL,
    ip               TEXT,
    user_agent       TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    -- The first person to scan holds the ticket, through this session (the
    -- web session continues its identity).
    scanned_by       BIGINT REFERENCES users (id) ON DELETE CASCADE,
    scanned_session  TEXT,
    scanned_at       BIGINT,
    -- 'confirmed' or 'denied', by the scanner.
    decision         TEXT,
    decided_at       BIGINT,
    code_hash        TEXT,
    code_expires_at  BIGINT,
    code_used_at     BIGINT,
    -- The session the code opened: revoked when the code comes back.
    session_id       TEXT,
    -- The mini-program code shown for it, fetched once.
    qr_png           BYTEA
);
CREATE UNIQUE INDEX web_logins_code_hash_key ON web_logins (code_hash) WHERE code_hash IS NOT NULL;
CREATE INDEX web_logins_expires_at_idx ON web_logins (expires_at);
-- A person's deletion (a login's undone person, SQLite) finds their tickets
-- through this, not by reading the table.
CREATE INDEX web_logins_scanned_by_idx ON web_logins (scanned_by);

-- A session opened on the web: the relying party it was opened for (its
-- tokens' `aud`), and the scopes granted; NULL for the mini-programs' own
-- sessions.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
