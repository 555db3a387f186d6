DROP INDEX tokens_account_extension;
DROP INDEX tokens_account_status;
