-- Per-key rate limits across instances (src/db/rates.rs): each instance writes how many requests
-- of each limited key it let through in a UTC minute, and reads the others' every 250 ms; and says
-- every second that it is alive, so that each knows how many share a key's budget.
CREATE TABLE rate_counts (
    token_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    instance TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (token_id, minute, instance)
);
CREATE INDEX rate_counts_minute ON rate_counts (minute);
CREATE TABLE rate_instances (
    instance TEXT PRIMARY KEY NOT NULL,
    seen_at TIMESTAMP NOT NULL
);
