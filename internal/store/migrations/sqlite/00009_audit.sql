-- +goose Up
-- audit_log records every mutating call of every transport (issue 15): who (account, the
-- id of the API key, never the key), what (method, parameters with secrets masked, the
-- object), from where, its result or fault and the operations it started. A call that
-- changes something writes its entry in the transaction of the change; a call that fails
-- writes it alone. Entries older than the configured retention are pruned.
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  ts          INTEGER NOT NULL,
  account_id  INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  key_id      INTEGER NOT NULL,
  transport   TEXT NOT NULL,
  method      TEXT NOT NULL,
  object      TEXT NOT NULL,
  params      TEXT NOT NULL,
  client_addr TEXT NOT NULL,
  result      TEXT NOT NULL,
  message     TEXT NOT NULL,
  operations  TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE INDEX audit_log_object ON audit_log (object, id);
CREATE INDEX audit_log_ts ON audit_log (ts);

-- A web console session remembers the API key that opened it, for the audit log.
ALTER TABLE web_sessions ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN key_id;
DROP TABLE audit_log;
