-- +goose Up
-- The access programme (issue 13): API access per account, several named API keys,
-- free-trial coupons and their credits, and test-share requests.
ALTER TABLE accounts ADD COLUMN api_access INTEGER NOT NULL DEFAULT 1;

CREATE TABLE api_keys (
  id          INTEGER PRIMARY KEY,
  account_id  INTEGER NOT NULL REFERENCES accounts (id),
  name        TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,
  prefix      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_account ON api_keys (account_id, id);
CREATE UNIQUE INDEX api_keys_name ON api_keys (account_id, name) WHERE revoked_at = 0;
INSERT INTO api_keys (account_id, name, key_hash, prefix, created_at)
  SELECT id, 'default', key_hash, '', created_at FROM accounts;

CREATE TABLE coupons (
  id           INTEGER PRIMARY KEY,
  code_hash    TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL,
  credits      INTEGER NOT NULL,
  valid_days   INTEGER NOT NULL,
  note         TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  redeem_by    INTEGER NOT NULL,
  account_id   INTEGER NOT NULL DEFAULT 0,
  redeemed_at  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE trials (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL REFERENCES accounts (id),
  coupon_id     INTEGER NOT NULL UNIQUE,
  granted_milli INTEGER NOT NULL,
  left_milli    INTEGER NOT NULL,
  started_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  warned_at     INTEGER NOT NULL DEFAULT 0,
  ended_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trials_account ON trials (account_id, id);

CREATE TABLE trial_requests (
  id          INTEGER PRIMARY KEY,
  handle      TEXT NOT NULL,
  email       TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  client_addr TEXT NOT NULL,
  state       TEXT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  account_id  INTEGER NOT NULL DEFAULT 0,
  coupon_id   INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,
  decided_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trial_requests_addr ON trial_requests (client_addr, created_at);
CREATE INDEX trial_requests_state ON trial_requests (state, id);

-- +goose Down
DROP TABLE trial_requests;
DROP TABLE trials;
DROP TABLE coupons;
DROP TABLE api_keys;
ALTER TABLE accounts DROP COLUMN api_access;
