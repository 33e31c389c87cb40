-- +goose Up
-- The schedule of the disk's snapshot profile that took a snapshot; '' for one taken by
-- hand, which a profile never prunes.
ALTER TABLE disks ADD COLUMN snapshot_schedule TEXT NOT NULL DEFAULT '';
CREATE INDEX disks_profile ON disks (snapshot_profile_id);

-- +goose Down
DROP INDEX disks_profile;
ALTER TABLE disks DROP COLUMN snapshot_schedule;
