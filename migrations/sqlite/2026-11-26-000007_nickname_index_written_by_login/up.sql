-- A new user's nickname enters the search index from the login's own code
-- (`users::upsert_for_login`), not from a trigger. Any trigger on the INSERT
-- makes SQLite open a statement journal for it, and opening one makes FTS5
-- write out its pending terms as a new segment: one segment (and its merges)
-- per login instead of one per group commit. Measured with the benchmark.
-- Updates and deletes are rare and keep their triggers.
DROP TRIGGER users_nickname_fts_insert;
