-- Operators of the admin console and their server-side sessions.
CREATE TABLE admins (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username       TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT admins_username_key UNIQUE (username)
);

-- The cookie holds a random token; only its SHA-256 is the row's id.
CREATE TABLE admin_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    admin_id      BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    revoked_at    BIGINT,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX admin_sessions_admin_id_idx ON admin_sessions (admin_id);

-- Sign-in throttling counts recent failures per username and per IP; the
-- overview counts recent logins.
CREATE INDEX audit_events_kind_actor_idx ON audit_events (kind, actor, created_at);
CREATE INDEX audit_events_kind_ip_idx ON audit_events (kind, ip, created_at);
CREATE INDEX audit_events_kind_created_idx ON audit_events (kind, created_at);
