package volume

import "context"

// LiveSnapshotter is implemented by drivers that let another program (the hypervisor,
// for a disk in use by a running VM) fill a snapshot.
type LiveSnapshotter interface {
	// SnapshotLive makes disk id a snapshot of src with copy: copy receives the path
	// of an empty image of exactly src's virtual size and fills it; the driver accounts
	// for it, and makes it disk id only once copy returned nil (a failed copy leaves
	// nothing). Like Snapshot, it does nothing when disk id exists.
	SnapshotLive(ctx context.Context, id, src int64, copy func(ctx context.Context, target string) error) error
}
