-- +goose Up
-- Where a host's peers reach it: its VXLAN tunnel endpoint (underlay address) and its
-- internal listener (console proxy, disk copies), both "" for an all-in-one host.
ALTER TABLE hosts ADD COLUMN vtep_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN internal_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE hosts DROP COLUMN internal_url;
ALTER TABLE hosts DROP COLUMN vtep_addr;
