-- +goose Up
-- A draining host takes no new VM (placement skips it) while its VMs move to other hosts
-- (berthd admin host drain); undrain opens it again. Agents' registrations keep it.
ALTER TABLE hosts ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE hosts DROP COLUMN draining;
