DROP TABLE idempotency_keys;
DROP TABLE submitted_forms;
DROP TABLE usage_batches;
