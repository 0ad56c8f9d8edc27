-- SQLite only: there new users' nicknames enter the FTS5 index in batches
-- behind the logins. PostgreSQL's trigram index is an ordinary index.
SELECT 1;
