package agent

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/volume"
)

// DiskFetcher streams a disk's file from the host it lives on.
type DiskFetcher interface {
	// FetchDisk returns the file's bytes, the image disk it is an overlay of (0 for none),
	// and verify, which tells once body is read whether it is exactly what the source sent.
	FetchDisk(ctx context.Context, host string, diskID int64) (body io.ReadCloser, backing int64, verify func() error, err error)
}

// pullDisk copies a disk from the host it lives on to this one, for an attach to a VM of
// this host: streamed over the internal channel, checksummed, checked, then committed.
// The old copy stays until the store records this host as the disk's (see SweepMoved).
func (a *Agent) pullDisk(ctx context.Context, d *store.Disk) error {
	mv, ok := a.vol.(volume.Mover)
	if !ok || a.fetch == nil {
		return fmt.Errorf("disk %d lives on host %s: this host cannot fetch disks from other hosts", d.ID, d.Host)
	}
	if have, err := a.vol.Exists(ctx, d.ID); err != nil || have {
		return err // already copied (a retried step)
	}
	body, backing, verify, err := a.fetch.FetchDisk(ctx, d.Host, d.ID)
	if err != nil {
		return fmt.Errorf("fetch disk %d from host %s: %w", d.ID, d.Host, err)
	}
	defer body.Close()
	err = mv.Receive(ctx, d.ID, d.Size, backing, func(w io.Writer) error {
		if _, err := io.Copy(w, body); err != nil {
			return err
		}
		return verify()
	})
	if err != nil {
		return fmt.Errorf("copy disk %d from host %s: %w", d.ID, d.Host, err)
	}
	a.log.Info("disk copied from another host", "disk", d.ID, "from", d.Host)
	return nil
}

// SweepMoved deletes this host's copies of the disks the store says live on another host
// now (an attach moved them, and the new copy was verified before the store changed), and
// copies an attach received here but that failed (the store still names the old host);
// never a disk with an unfinished operation, or whose VM has one.
// Image disks (every host keeps its own copy) are never touched.
func (a *Agent) SweepMoved(ctx context.Context) error {
	mv, ok := a.vol.(volume.Mover)
	if !ok {
		return nil
	}
	local := mv.Disks()
	if len(local) == 0 {
		return nil
	}
	var gone []int64
	err := a.st.Read(ctx, func(tx store.Tx) error {
		ids := make([]any, len(local))
		for i, id := range local {
			ids[i] = id
		}
		disks, err := tx.Disks(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{{Field: "id", Op: api.OpIn, Values: ids}}})
		if err != nil {
			return err
		}
		// A disk with an unfinished operation may be the copy an attach here has just
		// received (the store names this host only when the attach completes): keep it.
		pending, err := tx.Operations(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
			{Field: "disk_id", Op: api.OpIn, Values: ids},
			{Field: "step", Op: api.OpIn, Values: []any{api.StepBill, api.StepWait, api.StepRun}},
		}})
		if err != nil {
			return err
		}
		busy := map[int64]bool{}
		for _, op := range pending {
			busy[op.DiskID] = true
		}
		// Nor a disk of a VM with an operation in flight: a VM moving here has its disks
		// here before the store records them here.
		busyVMs, err := tx.BusyVMs()
		if err != nil {
			return err
		}
		for _, d := range disks {
			if d.AccountID != 0 && d.Host != "" && d.Host != a.host && !busy[d.ID] && !busyVMs[d.VMID] {
				gone = append(gone, d.ID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range gone {
		if err := a.vol.Delete(ctx, id); err != nil {
			return fmt.Errorf("remove the old copy of disk %d: %w", id, err)
		}
		a.log.Info("old copy of a moved disk removed", "disk", id)
	}
	return nil
}
