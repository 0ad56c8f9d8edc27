-- SQLite only: its identities table has AUTOINCREMENT again (see the SQLite
-- migration of the same name). PostgreSQL's ids come from a sequence, which
-- never repeats; nothing to change, one step for both.
SELECT 1;
