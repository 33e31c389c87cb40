// Package fake is an in-memory volume.Driver for logic tests and the sim backend, where it
// keeps its state in a file and takes a configurable time per call.
package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/berth-io/berth/internal/simstate"
	"github.com/berth-io/berth/internal/volume"
)

// Disk is the fake's record of a disk.
type Disk struct {
	SizeMB  int64
	Content string // what the disk "holds": where its data came from
}

type data struct {
	Disks  map[int64]*Disk
	FreeMB int64
}

// Driver is the fake volume driver.
type Driver struct {
	mu    sync.Mutex
	d     data
	state simstate.File
}

var _ volume.Driver = (*Driver)(nil)

// New returns a fake with capacityMB of space (0 means unlimited).
func New(capacityMB int64) *Driver {
	if capacityMB == 0 {
		capacityMB = 1 << 40
	}
	return &Driver{d: data{Disks: map[int64]*Disk{}, FreeMB: capacityMB}}
}

// NewPersistent returns a fake keeping its disks in a file.
func NewPersistent(capacityMB int64, state simstate.File) (*Driver, error) {
	d := New(capacityMB)
	d.state = state
	return d, state.Load(&d.d)
}

func (d *Driver) change(ctx context.Context, fn func() error) error {
	if err := d.state.Wait(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	return d.state.Save(d.d)
}

// Get returns the fake's record of disk id.
func (d *Driver) Get(id int64) (Disk, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.d.Disks[id]
	if !ok {
		return Disk{}, false
	}
	return *x, true
}

func (d *Driver) add(id, sizeMB int64, content string) error {
	if _, ok := d.d.Disks[id]; ok {
		return nil
	}
	if sizeMB > d.d.FreeMB {
		return fmt.Errorf("disk %d: %w", id, volume.ErrNoSpace)
	}
	d.d.FreeMB -= sizeMB
	d.d.Disks[id] = &Disk{SizeMB: sizeMB, Content: content}
	return nil
}

func (d *Driver) source(src int64) (*Disk, error) {
	s, ok := d.d.Disks[src]
	if !ok {
		return nil, fmt.Errorf("source disk %d has no volume", src)
	}
	return s, nil
}

// Create implements volume.Driver.
func (d *Driver) Create(ctx context.Context, id, sizeMB int64) error {
	return d.change(ctx, func() error { return d.add(id, sizeMB, "empty") })
}

// CreateFrom implements volume.Driver.
func (d *Driver) CreateFrom(ctx context.Context, id, src, sizeMB int64) error {
	return d.change(ctx, func() error {
		s, err := d.source(src)
		if err != nil {
			return err
		}
		return d.add(id, max(sizeMB, s.SizeMB), s.Content)
	})
}

// Snapshot implements volume.Driver.
func (d *Driver) Snapshot(ctx context.Context, id, src int64) error {
	return d.change(ctx, func() error {
		s, err := d.source(src)
		if err != nil {
			return err
		}
		return d.add(id, s.SizeMB, s.Content)
	})
}

// Rollback implements volume.Driver.
func (d *Driver) Rollback(ctx context.Context, id, snap int64) error {
	return d.change(ctx, func() error {
		s, ok1 := d.d.Disks[snap]
		t, ok2 := d.d.Disks[id]
		if !ok1 || !ok2 {
			return fmt.Errorf("rollback %d from %d: missing volume", id, snap)
		}
		t.Content = s.Content
		return nil
	})
}

// Resize implements volume.Driver.
func (d *Driver) Resize(ctx context.Context, id, sizeMB int64) error {
	return d.change(ctx, func() error {
		t, ok := d.d.Disks[id]
		if !ok {
			return fmt.Errorf("disk %d has no volume", id)
		}
		if sizeMB < t.SizeMB {
			return fmt.Errorf("disk %d cannot shrink", id)
		}
		if sizeMB-t.SizeMB > d.d.FreeMB {
			return fmt.Errorf("disk %d: %w", id, volume.ErrNoSpace)
		}
		d.d.FreeMB -= sizeMB - t.SizeMB
		t.SizeMB = sizeMB
		return nil
	})
}

// Grow implements volume.Driver: the fake accounts the space as Resize does.
func (d *Driver) Grow(ctx context.Context, id, sizeMB int64) error { return d.Resize(ctx, id, sizeMB) }

// Delete implements volume.Driver.
func (d *Driver) Delete(ctx context.Context, id int64) error {
	return d.change(ctx, func() error {
		if t, ok := d.d.Disks[id]; ok {
			d.d.FreeMB += t.SizeMB
			delete(d.d.Disks, id)
		}
		return nil
	})
}

// Import implements volume.Driver: the fake keeps the file name as the content, and makes
// every image 3072 MB.
func (d *Driver) Import(ctx context.Context, id int64, path string) (int64, error) {
	const size = 3072
	err := d.change(ctx, func() error { return d.add(id, size, "image:"+path) })
	return size, err
}

// Path implements volume.Driver.
func (d *Driver) Path(id int64) string { return fmt.Sprintf("sim://disk/%d", id) }

// Exists implements volume.Driver.
func (d *Driver) Exists(_ context.Context, id int64) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.d.Disks[id]
	return ok, nil
}
