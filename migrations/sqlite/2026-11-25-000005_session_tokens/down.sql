CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL,
    spent_at          BIGINT,
    successor_sealed  TEXT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_sealed_idx ON refresh_tokens (spent_at) WHERE successor_sealed IS NOT NULL;
ALTER TABLE sessions DROP COLUMN cookie_hash;
ALTER TABLE sessions DROP COLUMN refreshed_at;
ALTER TABLE sessions DROP COLUMN refresh_gen;
