-- +goose Up
-- events is the outbox of changes: one row per write of a tenant object, in the same
-- transaction as the write; API servers tail it for GET /v1/events.
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL,
  kind       TEXT NOT NULL,
  action     TEXT NOT NULL,
  object_id  INTEGER NOT NULL,
  data       TEXT NOT NULL,
  ts         INTEGER NOT NULL
);
CREATE INDEX events_account_seq ON events (account_id, seq);

-- sessions are the web console's logins: the hash of a random cookie token.
CREATE TABLE web_sessions (
  token_hash TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE web_sessions;
DROP TABLE events;
