package sqlstore

import "github.com/berth-io/berth/internal/store"

var (
	profiledDisks = "SELECT " + disks.selectCols() + " FROM disks WHERE snapshot_profile_id <> 0 AND type = 'data' ORDER BY id"
	autoSnapshots = "SELECT " + disks.selectCols() + " FROM disks WHERE source = $1 AND type = 'snapshot' AND snapshot_schedule <> '' ORDER BY date_created, id"
)

func (t *txn) ProfiledDisks() ([]*store.Disk, error) {
	return disks.queryRows(t, profiledDisks)
}

func (t *txn) AutoSnapshots(sourceID int64) ([]*store.Disk, error) {
	return disks.queryRows(t, autoSnapshots, sourceID)
}
