-- Every login's identity and session named its app through a foreign key,
-- and PostgreSQL checks one by locking the referenced row (FOR KEY SHARE):
-- every concurrent login locked the same row of `apps`, one of a handful,
-- and each lock on a row that others hold makes a multixact. Measured with
-- pgbench on the first-login statement: without these two checks it runs
-- about 8% more per second (docs/performance.md, 2026-12-05).
--
-- They guard nothing the code can break: apps are written from the
-- configuration at start (`db::apps::sync`) and never deleted, and a login
-- (a web sign-in's too) writes only the app it came through, one of them.
-- SQLite keeps its keys: there a check is an in-memory look-up with no lock,
-- and dropping one would rebuild both tables.
ALTER TABLE identities DROP CONSTRAINT identities_appid_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_appid_fkey;
