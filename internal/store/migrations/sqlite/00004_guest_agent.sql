-- +goose Up
-- Whether the guest agent of a running VM answers, as the last reconcile saw it:
-- 'up', 'down', or '' (not known: the VM is not running, or was not checked yet).
ALTER TABLE vms ADD COLUMN guest_agent TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE vms DROP COLUMN guest_agent;
