-- Keys of the admin API (`wxauth apikey create NAME --scope read|write`).
-- Only the SHA-256 of a key is kept: the key itself is printed once. A
-- revoked key keeps its row, so the audit log's actor stays explained; its
-- name may be given to a new key.
CREATE TABLE api_keys (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE UNIQUE INDEX api_keys_live_name_idx ON api_keys (name) WHERE revoked_at IS NULL;
