-- PostgreSQL only: there the identities' and sessions' keys to `apps` locked
-- the app's row in every login. Here a check is an in-memory look-up with no
-- lock, and dropping the keys would rebuild both tables.
SELECT 1;
