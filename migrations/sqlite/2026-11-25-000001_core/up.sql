-- Core tables: mini-programs, their users, sessions, refresh tokens, audit log.
-- Times are Unix seconds (BIGINT) so both backends share one schema.rs.
CREATE TABLE apps (
    appid       TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    appid              TEXT NOT NULL REFERENCES apps (appid),
    openid             TEXT NOT NULL,
    unionid            TEXT,
    nickname           TEXT,
    avatar_url         TEXT,
    gender             INTEGER,
    language           TEXT,
    city               TEXT,
    province           TEXT,
    country            TEXT,
    phone_number       TEXT,
    pure_phone_number  TEXT,
    country_code       TEXT,
    banned_at          BIGINT,
    ban_reason         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_login_at      BIGINT,
    CONSTRAINT users_appid_openid_key UNIQUE (appid, openid)
);
CREATE INDEX users_unionid_idx ON users (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX users_pure_phone_number_idx ON users (pure_phone_number) WHERE pure_phone_number IS NOT NULL;

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    appid               TEXT NOT NULL REFERENCES apps (appid),
    session_key_sealed  TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    revoked_at          BIGINT,
    revoke_reason       TEXT,
    ip                  TEXT,
    user_agent          TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);
CREATE INDEX sessions_active_last_seen_idx ON sessions (last_seen_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- One row per refresh token ever issued; only the SHA-256 of the token is kept.
-- A spent token keeps the (sealed) pair it was exchanged for during the grace.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL,
    spent_at          BIGINT,
    successor_sealed  TEXT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_sealed_idx ON refresh_tokens (spent_at) WHERE successor_sealed IS NOT NULL;

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     BIGINT,
    session_id  TEXT,
    actor       TEXT,
    ip          TEXT,
    detail      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, id);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
