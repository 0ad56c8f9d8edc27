ALTER TABLE instances DROP COLUMN acknowledged;
ALTER TABLE instances DROP COLUMN joined_at;
