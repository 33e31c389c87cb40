package qcow2

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-io/berth/internal/volume"
)

var _ volume.LiveSnapshotter = (*Driver)(nil)

// SnapshotLive implements volume.LiveSnapshotter: the target is <id>.qcow2.tmp, an empty
// qcow2 of src's exact virtual size (a QMP blockdev-backup target must match it), made
// <id>.qcow2 once copied and synced.
func (d *Driver) SnapshotLive(ctx context.Context, id, src int64, copy func(ctx context.Context, target string) error) error {
	defer d.lock(id, src)()
	srcMB, err := d.source(id, src)
	if err != nil {
		return err
	}
	inf, err := d.info(ctx, d.Path(src), "qcow2")
	if err != nil {
		return fmt.Errorf("disk %d: %w", src, err)
	}
	return d.make(ctx, id, max(srcMB, ceilMB(inf.VirtualSize)), func(tmp string) error {
		if _, err := d.run(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(inf.VirtualSize, 10)); err != nil {
			return err
		}
		return copy(ctx, tmp)
	})
}
