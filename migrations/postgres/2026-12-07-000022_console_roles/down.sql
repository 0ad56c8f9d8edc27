UPDATE api_keys SET scope = 'write' WHERE scope = 'owner';
ALTER TABLE admins DROP COLUMN role;
