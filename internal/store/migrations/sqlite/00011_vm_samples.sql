-- +goose Up
-- vm_samples: what each running VM used during one sampling interval of its host (one
-- row per VM per interval, a minute by default), written by the host that runs it and read
-- by any API server for hosting.metric.query. Counter columns hold the growth over the
-- interval; memory columns the value at its end. The pub_/priv_ columns are NULL when the
-- VM had no iface of that type. Rows older than the retention are pruned.
CREATE TABLE vm_samples (
  vm_id            INTEGER NOT NULL,
  ts               INTEGER NOT NULL,
  interval_s       INTEGER NOT NULL,
  host             TEXT NOT NULL,
  cpu_ms           INTEGER NOT NULL,
  memory_bytes     INTEGER NOT NULL,
  rss_bytes        INTEGER NOT NULL,
  disk_read_bytes  INTEGER NOT NULL,
  disk_write_bytes INTEGER NOT NULL,
  disk_reads       INTEGER NOT NULL,
  disk_writes      INTEGER NOT NULL,
  pub_rx_bytes     INTEGER,
  pub_tx_bytes     INTEGER,
  pub_rx_packets   INTEGER,
  pub_tx_packets   INTEGER,
  priv_rx_bytes    INTEGER,
  priv_tx_bytes    INTEGER,
  priv_rx_packets  INTEGER,
  priv_tx_packets  INTEGER,
  PRIMARY KEY (vm_id, ts)
);
CREATE INDEX vm_samples_ts ON vm_samples (ts);

-- +goose Down
DROP TABLE vm_samples;
