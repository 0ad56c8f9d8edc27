-- A second factor for console admins (SPEC §12): TOTP (RFC 6238). The
-- secret an enrolment page shows waits in totp_pending_secret until a first
-- code confirms it; totp_last_step is the last 30-second step a code was
-- taken for, so that no code of it or before is taken again.
ALTER TABLE admins ADD COLUMN totp_secret TEXT;
ALTER TABLE admins ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;
-- Single-use recovery codes, kept as their SHA-256.
CREATE TABLE admin_recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    admin_id    BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX admin_recovery_codes_admin_id_idx ON admin_recovery_codes (admin_id);
-- A sign-in waiting for its code: the row id is the SHA-256 of the
-- browser's cookie; event_id the attempt's audit event, a failure until the
-- code proves right. A wrong password waits too, with no admin: the same
-- rows written and read either way, so that no answer's time tells which.
CREATE TABLE admin_sign_in_challenges (
    id          TEXT PRIMARY KEY NOT NULL,
    admin_id    BIGINT REFERENCES admins (id) ON DELETE CASCADE,
    event_id    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX admin_sign_in_challenges_admin_id_idx ON admin_sign_in_challenges (admin_id);
