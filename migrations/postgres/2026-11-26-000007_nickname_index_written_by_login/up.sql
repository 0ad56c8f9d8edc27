-- SQLite only: there a new user's nickname now enters the FTS5 index from the
-- login's code instead of a trigger. PostgreSQL's trigram index is an ordinary
-- index; nothing changes here.
SELECT 1;
