// Package fake is an in-memory volume.Driver for logic tests and the sim backend.
package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/berth-io/berth/internal/volume"
)

// Disk is the fake's record of a disk.
type Disk struct {
	SizeMB  int64
	Content string // what the disk "holds": the id of the disk it was made from, or "empty"
}

// Driver is the fake volume driver.
type Driver struct {
	mu     sync.Mutex
	disks  map[int64]*Disk
	freeMB int64
}

var _ volume.Driver = (*Driver)(nil)

// New returns a fake with capacityMB of space (0 means unlimited).
func New(capacityMB int64) *Driver {
	if capacityMB == 0 {
		capacityMB = 1 << 40
	}
	return &Driver{disks: map[int64]*Disk{}, freeMB: capacityMB}
}

// Get returns the fake's record of disk id.
func (d *Driver) Get(id int64) (Disk, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.disks[id]
	if !ok {
		return Disk{}, false
	}
	return *x, true
}

// Put registers a disk as existing (an imported image).
func (d *Driver) Put(id, sizeMB int64, content string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disks[id] = &Disk{SizeMB: sizeMB, Content: content}
}

func (d *Driver) add(id, sizeMB int64, content string) error {
	if _, ok := d.disks[id]; ok {
		return nil
	}
	if sizeMB > d.freeMB {
		return fmt.Errorf("disk %d: %w", id, volume.ErrNoSpace)
	}
	d.freeMB -= sizeMB
	d.disks[id] = &Disk{SizeMB: sizeMB, Content: content}
	return nil
}

// Create implements volume.Driver.
func (d *Driver) Create(_ context.Context, id, sizeMB int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.add(id, sizeMB, "empty")
}

// CreateFrom implements volume.Driver.
func (d *Driver) CreateFrom(_ context.Context, id, src, sizeMB int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.disks[src]
	if !ok {
		return fmt.Errorf("source disk %d has no volume", src)
	}
	return d.add(id, max(sizeMB, s.SizeMB), s.Content)
}

// Snapshot implements volume.Driver.
func (d *Driver) Snapshot(_ context.Context, id, src int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.disks[src]
	if !ok {
		return fmt.Errorf("source disk %d has no volume", src)
	}
	return d.add(id, s.SizeMB, s.Content)
}

// Rollback implements volume.Driver.
func (d *Driver) Rollback(_ context.Context, id, snap int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok1 := d.disks[snap]
	t, ok2 := d.disks[id]
	if !ok1 || !ok2 {
		return fmt.Errorf("rollback %d from %d: missing volume", id, snap)
	}
	t.Content = s.Content
	return nil
}

// Resize implements volume.Driver.
func (d *Driver) Resize(_ context.Context, id, sizeMB int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.disks[id]
	if !ok {
		return fmt.Errorf("disk %d has no volume", id)
	}
	if sizeMB < t.SizeMB {
		return fmt.Errorf("disk %d cannot shrink", id)
	}
	if sizeMB-t.SizeMB > d.freeMB {
		return fmt.Errorf("disk %d: %w", id, volume.ErrNoSpace)
	}
	d.freeMB -= sizeMB - t.SizeMB
	t.SizeMB = sizeMB
	return nil
}

// Delete implements volume.Driver.
func (d *Driver) Delete(_ context.Context, id int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.disks[id]; ok {
		d.freeMB += t.SizeMB
		delete(d.disks, id)
	}
	return nil
}

// Path implements volume.Driver.
func (d *Driver) Path(id int64) string { return fmt.Sprintf("sim://disk/%d", id) }

// Exists implements volume.Driver.
func (d *Driver) Exists(_ context.Context, id int64) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.disks[id]
	return ok, nil
}

// Import implements volume.Driver: the fake keeps the file name as the content.
func (d *Driver) Import(_ context.Context, id int64, path string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if x, ok := d.disks[id]; ok {
		return x.SizeMB, nil
	}
	const size = 3072
	d.disks[id] = &Disk{SizeMB: size, Content: "image:" + path}
	return size, nil
}
