-- SQLite only: its identities table lost AUTOINCREMENT (see the SQLite
-- migration of the same name). PostgreSQL's ids come from a sequence,
-- which was never a cost per login; nothing to change, one step for both.
SELECT 1;
