-- +goose Up
CREATE TABLE idempotency_keys (
  account_id INTEGER NOT NULL,
  idem_key   TEXT NOT NULL,
  request    TEXT NOT NULL,
  result     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
