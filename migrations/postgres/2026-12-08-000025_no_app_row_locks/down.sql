ALTER TABLE identities ADD CONSTRAINT identities_appid_fkey FOREIGN KEY (appid) REFERENCES apps (appid);
ALTER TABLE sessions ADD CONSTRAINT sessions_appid_fkey FOREIGN KEY (appid) REFERENCES apps (appid);
