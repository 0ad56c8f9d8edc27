-- WeChat's server access_token per app, shared by every instance. The token is
-- sealed at rest; `refreshing_until` is a lease so that one caller at a time
-- fetches a new one.
CREATE TABLE wechat_access_tokens (
    appid             TEXT PRIMARY KEY NOT NULL REFERENCES apps (appid),
    token_sealed      TEXT,
    expires_at        BIGINT NOT NULL,
    refreshing_until  BIGINT,
    updated_at        BIGINT NOT NULL
);
