DROP INDEX webhook_outbox_user_id_idx;
ALTER TABLE webhook_outbox DROP COLUMN user_id;
DROP INDEX users_delete_after_idx;
ALTER TABLE users DROP COLUMN delete_after;
ALTER TABLE users DROP COLUMN deletion_requested_at;
