CREATE TABLE token_events (
    id BIGSERIAL PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    client_ip TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX token_events_token ON token_events (token_id, occurred_at);
INSERT INTO token_events (token_id, kind, actor_id, actor_name, client_ip, occurred_at)
SELECT token_id,
       CASE kind WHEN 'token.updated' THEN 'edited' ELSE substr(kind, 7) END,
       actor_id, actor_name, client_ip, occurred_at
FROM events WHERE token_id IS NOT NULL ORDER BY id;
DROP TABLE events;
DROP TABLE sign_in_attempts;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN active;
