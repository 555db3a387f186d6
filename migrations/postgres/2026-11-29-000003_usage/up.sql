-- API requests per token and UTC day (kept 400 days), and per hour for the last two days (for
-- "the last 24 hours"); refused counts those answered 401 or 403.
CREATE TABLE token_usage (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    requests BIGINT NOT NULL,
    refused BIGINT NOT NULL,
    PRIMARY KEY (token_id, day)
);
CREATE INDEX token_usage_day ON token_usage (day);
CREATE TABLE token_usage_hourly (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    hour TIMESTAMP NOT NULL,
    requests BIGINT NOT NULL,
    refused BIGINT NOT NULL,
    PRIMARY KEY (token_id, hour)
);
CREATE INDEX token_usage_hourly_hour ON token_usage_hourly (hour);
