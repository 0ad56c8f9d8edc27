-- Refresh tokens carry their session, a generation and a MAC (see
-- src/auth/refresh_token.rs): a session keeps its current generation and when
-- it last rotated, and no longer gains a row per refresh. Tokens issued before
-- this migration are no longer recognised; their holders log in again.
ALTER TABLE sessions ADD COLUMN refresh_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN refreshed_at BIGINT;
-- The SHA-256 of the secret part of the tutorial clients' session cookie.
ALTER TABLE sessions ADD COLUMN cookie_hash TEXT;
DROP TABLE refresh_tokens;
