ALTER TABLE login_codes DROP COLUMN anonymous_openid;
