-- +goose Up
CREATE TABLE hosts (
  name          TEXT PRIMARY KEY,
  datacenter_id INTEGER NOT NULL,
  memory_mb     INTEGER NOT NULL,
  disk_mb       INTEGER NOT NULL,
  state         TEXT NOT NULL,
  heartbeat_at  INTEGER NOT NULL,
  started_at    INTEGER NOT NULL
);

-- +goose Down
DROP TABLE hosts;
