-- The statement tokendesk sends for GET /public/v1/agreements?limit=10 (a plain first page: the
-- page and, in the same statement, the account's total), as pg_stat_activity shows it. bench/api.sh
-- runs it with pgbench -M prepared, :account set to the demo account, to measure what
-- PostgreSQL itself needs for the request's one statement. A later page's statement adds
-- OFFSET (bench/agreements-offset.sql).
SELECT "agreements"."id", "agreements"."account_id", "agreements"."agreement_type", "agreements"."title", "agreements"."name", "agreements"."description", "agreements"."active", "agreements"."created_at", "agreements"."created_by_id", "agreements"."created_by_name", "agreements"."updated_at", "agreements"."updated_by_id", "agreements"."updated_by_name", (SELECT COUNT(*) FROM "agreements" WHERE ("agreements"."account_id" = :account)) FROM "agreements" WHERE ("agreements"."account_id" = :account) ORDER BY "agreements"."id" ASC LIMIT :limit;
