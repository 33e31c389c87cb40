-- +goose Up
-- Where a host's peers reach it: its VXLAN tunnel endpoint (underlay address) and its
-- internal listener (console proxy, disk copies), both "" for an all-in-one host.
ALTER TABLE hosts ADD COLUMN vtep_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN internal_url TEXT NOT NULL DEFAULT '';
-- Secrets the servers of a cluster share, made once by the first that needs one (the
-- key API servers sign hosts' internal tokens with).
CREATE TABLE cluster_secrets (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- +goose Down
DROP TABLE cluster_secrets;
ALTER TABLE hosts DROP COLUMN internal_url;
ALTER TABLE hosts DROP COLUMN vtep_addr;
