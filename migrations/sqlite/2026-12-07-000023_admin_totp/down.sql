DROP TABLE admin_sign_in_challenges;
DROP TABLE admin_recovery_codes;
ALTER TABLE admins DROP COLUMN totp_last_step;
ALTER TABLE admins DROP COLUMN totp_pending_secret;
ALTER TABLE admins DROP COLUMN totp_secret;
