DROP TABLE instances;
DROP TABLE login_codes;
