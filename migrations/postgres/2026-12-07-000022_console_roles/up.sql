-- Console roles (SPEC §12): viewer, operator, owner. Admins made before
-- roles could do everything, and still can: they become owners.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
-- Keys of the admin API made before roles: a write key could merge, unlink
-- and erase people. It keeps what it could do as an owner key; `write` now
-- names an operator's calls (revoke, ban, unban).
UPDATE api_keys SET scope = 'owner' WHERE scope = 'write';
