-- Douyin: a login with a code and the device's anonymous code gives both
-- the openid and the guest's anonymous_openid; the instances sharing an
-- exchange share both (SPEC §10). A success without a session_key (Alipay)
-- leaves session_key_sealed NULL.
ALTER TABLE login_codes ADD COLUMN anonymous_openid TEXT;
