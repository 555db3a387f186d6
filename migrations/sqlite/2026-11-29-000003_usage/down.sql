DROP TABLE token_usage_hourly;
DROP TABLE token_usage;
