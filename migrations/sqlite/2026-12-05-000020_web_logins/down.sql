DROP TABLE web_logins;
ALTER TABLE sessions DROP COLUMN scope;
ALTER TABLE sessions DROP COLUMN client_id;
