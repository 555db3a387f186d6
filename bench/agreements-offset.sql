-- The statement tokendesk sends for a later plain page of the agreements (offset > 0): the
-- first page's (bench/agreements.sql) with OFFSET. Until 2026-12-08 the first page was asked
-- with it too, OFFSET 0: with that parameter PostgreSQL plans every execution anew, since its
-- one plan for all executions looks dearer than the plan for offset 0. bench/api.sh runs both.
SELECT "agreements"."id", "agreements"."account_id", "agreements"."agreement_type", "agreements"."title", "agreements"."name", "agreements"."description", "agreements"."active", "agreements"."created_at", "agreements"."created_by_id", "agreements"."created_by_name", "agreements"."updated_at", "agreements"."updated_by_id", "agreements"."updated_by_name", (SELECT COUNT(*) FROM "agreements" WHERE ("agreements"."account_id" = :account)) FROM "agreements" WHERE ("agreements"."account_id" = :account) ORDER BY "agreements"."id" ASC LIMIT :limit OFFSET :offset;
