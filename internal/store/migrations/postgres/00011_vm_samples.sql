-- +goose Up
-- vm_samples: what each running VM used during one sampling interval of its host (one
-- row per VM per interval, a minute by default), written by the host that runs it and read
-- by any API server for hosting.metric.query. Counter columns hold the growth over the
-- interval; memory columns the value at its end. The pub_/priv_ columns are NULL when the
-- VM had no iface of that type. Rows older than the retention are pruned.
CREATE TABLE vm_samples (
  vm_id            BIGINT NOT NULL,
  ts               BIGINT NOT NULL,
  interval_s       BIGINT NOT NULL,
  host             TEXT NOT NULL,
  cpu_ms           BIGINT NOT NULL,
  memory_bytes     BIGINT NOT NULL,
  rss_bytes        BIGINT NOT NULL,
  disk_read_bytes  BIGINT NOT NULL,
  disk_write_bytes BIGINT NOT NULL,
  disk_reads       BIGINT NOT NULL,
  disk_writes      BIGINT NOT NULL,
  pub_rx_bytes     BIGINT,
  pub_tx_bytes     BIGINT,
  pub_rx_packets   BIGINT,
  pub_tx_packets   BIGINT,
  priv_rx_bytes    BIGINT,
  priv_tx_bytes    BIGINT,
  priv_rx_packets  BIGINT,
  priv_tx_packets  BIGINT,
  PRIMARY KEY (vm_id, ts)
);
CREATE INDEX vm_samples_ts ON vm_samples (ts);

-- +goose Down
DROP TABLE vm_samples;
