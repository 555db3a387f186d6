ALTER TABLE sessions DROP COLUMN sign_in_method;
ALTER TABLE accounts DROP COLUMN require_2fa;
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
