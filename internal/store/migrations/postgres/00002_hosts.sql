-- +goose Up
CREATE TABLE hosts (
  name          TEXT PRIMARY KEY,
  datacenter_id BIGINT NOT NULL,
  memory_mb     BIGINT NOT NULL,
  disk_mb       BIGINT NOT NULL,
  state         TEXT NOT NULL,
  heartbeat_at  BIGINT NOT NULL,
  started_at    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE hosts;
