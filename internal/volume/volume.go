// Package volume defines the disk driver: a disk is a qcow2 file in the qcow2 driver, an
// in-memory record in the fake one.
package volume

import (
	"context"
	"errors"
	"io"
)

// ErrNoSpace is returned when the host lacks the space for a disk.
var ErrNoSpace = errors.New("not enough disk space on the host")

// Driver creates and changes disks. Every method is idempotent.
type Driver interface {
	// Create makes an empty disk of sizeMB.
	Create(ctx context.Context, id int64, sizeMB int64) error
	// CreateFrom makes disk id with the content of disk src, grown to sizeMB.
	CreateFrom(ctx context.Context, id, src int64, sizeMB int64) error
	// Snapshot makes disk id a point-in-time copy of src.
	Snapshot(ctx context.Context, id, src int64) error
	// Rollback replaces the content of disk id with that of snapshot snap.
	Rollback(ctx context.Context, id, snap int64) error
	// Grow records that disk id grows to sizeMB through the hypervisor (online), so the
	// space is accounted for; it fails with ErrNoSpace beyond the capacity.
	Grow(ctx context.Context, id int64, sizeMB int64) error
	// Resize grows a disk (offline).
	Resize(ctx context.Context, id int64, sizeMB int64) error
	Delete(ctx context.Context, id int64) error
	// Path is the file the hypervisor opens for disk id.
	Path(id int64) string
	// Import makes disk id a copy of an image file and returns its virtual size in MB.
	Import(ctx context.Context, id int64, path string) (int64, error)
	// Exists reports whether disk id has its file.
	Exists(ctx context.Context, id int64) (bool, error)
}

// Mover is implemented by drivers whose disks can move to another host: the source host
// streams the disk's file (Open), the destination makes the disk from that stream
// (Receive). A disk made from an image is an overlay: it is rebased onto the destination's
// own copy of the image (every host keeps one, with the same disk id).
type Mover interface {
	// Open opens disk id's file for reading and returns its size in bytes and the image
	// disk it is an overlay of (0 for none). The caller closes it.
	Open(ctx context.Context, id int64) (f io.ReadCloser, size int64, backing int64, err error)
	// Receive makes disk id (virtual size sizeMB) from a stream: fill writes the source
	// file's bytes and returns an error when they are not what the source sent (checksum);
	// the disk exists only once they were written, verified and checked. An existing disk
	// id is left alone.
	Receive(ctx context.Context, id, sizeMB, backing int64, fill func(w io.Writer) error) error
	// Disks lists the disks this host holds.
	Disks() []int64
}
