DROP INDEX agreements_account_id;
