package qcow2

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/berth-io/berth/internal/volume"
)

var _ volume.Mover = (*Driver)(nil)

// Open implements volume.Mover.
func (d *Driver) Open(_ context.Context, id int64) (io.ReadCloser, int64, int64, error) {
	defer d.lock(id)()
	f, err := os.Open(d.Path(id))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("disk %d: %w", id, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, 0, fmt.Errorf("disk %d: %w", id, err)
	}
	d.mu.Lock()
	backing := d.backing[id]
	d.mu.Unlock()
	return f, st.Size(), backing, nil
}

// Receive implements volume.Mover: the stream goes to the temporary file, an overlay is
// rebased onto this host's copy of its image (qemu-img rebase -u: the image is the same
// bytes), `qemu-img check` must pass, then the file is synced and renamed into place.
func (d *Driver) Receive(ctx context.Context, id, sizeMB, backing int64, fill func(w io.Writer) error) error {
	if backing != 0 {
		defer d.lock(id, backing)()
		if ok, err := d.exists(backing); err != nil || !ok {
			return fmt.Errorf("disk %d is an overlay of image disk %d, which this host does not have (%v)", id, backing, err)
		}
	} else {
		defer d.lock(id)()
	}
	err := d.make(ctx, id, sizeMB, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if backing != 0 {
			if _, err := d.run(ctx, "rebase", "-u", "-f", "qcow2", "-b", d.Path(backing), "-F", "qcow2", tmp); err != nil {
				return err
			}
		}
		_, err = d.run(ctx, "check", "-q", "-f", "qcow2", tmp)
		return err
	})
	if err == nil && backing != 0 {
		d.mu.Lock()
		d.backing[id] = backing
		d.mu.Unlock()
	}
	return err
}

// Disks implements volume.Mover.
func (d *Driver) Disks() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]int64, 0, len(d.sizes))
	for id := range d.sizes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
