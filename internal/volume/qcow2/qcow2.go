// Package qcow2 is the volume.Driver of the QEMU backend: every disk is a qcow2 file
// <dir>/<id>.qcow2, made and changed by shelling out to qemu-img (Debian qemu-utils 7.2).
//
// How a disk is made from another one depends on what the source is:
//
//   - A public image disk (one made by Import) is the backing file of a new qcow2
//     overlay: creation is instant and costs no space until the guest writes. Images
//     are never deleted while a disk is made from them (Delete refuses), and nothing
//     writes to them, so the overlay stays valid. The driver remembers which disks are
//     images with an empty marker file <dir>/<id>.image written by Import.
//   - A user's disk may be deleted later, so a disk made from it is a full independent
//     copy (qemu-img convert -O qcow2, which also flattens an overlay), then grown.
//
// A snapshot is also an independent copy (qemu-img convert -U). A snapshot of a disk in
// use by a running VM is made by SnapshotLive instead: QEMU fills the new file
// (blockdev-backup, with the guest's filesystems frozen), see the agent.
// Rollback replaces the whole content of a disk by a copy of the snapshot, keeping the
// disk's virtual size when it was grown after the snapshot.
//
// Crash safety: every file is written as <id>.qcow2.tmp, fsynced, then renamed over
// <id>.qcow2 and the directory fsynced, so the final name only ever holds a complete
// disk and Exists is true only for complete disks. New removes stale .tmp files. Every
// method is idempotent: making a disk that exists is a no-op, deleting one that does
// not exist too.
//
// Capacity: the driver adds up the virtual sizes of its disks (overlays count in full,
// as a guest may fill them) and refuses with volume.ErrNoSpace a create, copy, import or
// resize beyond its capacity, so disks never fill the host's filesystem.
//
// Disk paths are absolute (symlinks resolved), since an overlay records the path of its
// backing file: moving the directory breaks overlays unless they are rebased
// (qemu-img rebase -u).
package qcow2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-io/berth/internal/volume"
)

const (
	mib       = 1 << 20
	ext       = ".qcow2"
	tmpExt    = ".qcow2.tmp"
	imageExt  = ".image"
	scanLimit = 30 * time.Second // per qemu-img info at New
)

// Driver is the qcow2 volume driver. It is safe for concurrent use: operations on
// different disks run in parallel, operations on the same disk one after the other.
type Driver struct {
	dir     string
	qemuImg string
	capMB   int64

	mu      sync.Mutex
	sizes   map[int64]int64 // virtual size in MB of each disk, including ones being made
	images  map[int64]bool  // disks made by Import
	backing map[int64]int64 // overlay -> the image disk it is made from
	locks   map[int64]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

var _ volume.Driver = (*Driver)(nil)

// New opens the disk directory dir (created if missing), removes files left by an
// interrupted operation and reads the sizes of the disks already there. capacityMB
// bounds the sum of the disks' virtual sizes; 0 means the disks there now plus 90% of
// the filesystem's free space.
func New(dir string, capacityMB int64) (*Driver, error) {
	return newDriver(dir, capacityMB, "qemu-img")
}

func newDriver(dir string, capacityMB int64, qemuImg string) (*Driver, error) {
	if capacityMB < 0 {
		return nil, fmt.Errorf("negative disk capacity %d MB", capacityMB)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("disk directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("disk directory: %w", err)
	}
	// Overlays record their backing file's absolute path: use one spelling of it.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("disk directory: %w", err)
	}
	d := &Driver{
		dir: abs, qemuImg: qemuImg, capMB: capacityMB,
		sizes: map[int64]int64{}, images: map[int64]bool{}, backing: map[int64]int64{},
		locks: map[int64]*idLock{},
	}
	if err := d.scan(); err != nil {
		return nil, err
	}
	if d.capMB == 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(abs, &st); err != nil {
			return nil, fmt.Errorf("free space of %s: %w", abs, err)
		}
		free := int64(st.Bavail) * st.Bsize / mib
		used, _ := d.Used()
		d.capMB = used + free*9/10
	}
	return d, nil
}

// adopt records a complete disk file this driver did not make (another process on the
// same directory did, such as `berthd admin image import`), and returns its size.
func (d *Driver) adopt(id int64) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scanLimit)
	defer cancel()
	inf, err := d.info(ctx, d.Path(id), "qcow2")
	if err != nil {
		return 0, fmt.Errorf("disk %d: %w", id, err)
	}
	_, markerErr := os.Stat(d.marker(id))
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sizes[id] = ceilMB(inf.VirtualSize)
	if src, ok := d.idOf(inf.BackingFilename); ok {
		d.backing[id] = src
	}
	if markerErr == nil {
		d.images[id] = true
	}
	return d.sizes[id], nil
}

// scan removes stale temporary files and orphan image markers and records the disks.
func (d *Driver) scan() error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("read disk directory: %w", err)
	}
	var markers []int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			if err := os.Remove(filepath.Join(d.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale %s: %w", name, err)
			}
		case strings.HasSuffix(name, imageExt):
			if id, ok := parseID(name, imageExt); ok {
				markers = append(markers, id)
			}
		case strings.HasSuffix(name, ext):
			id, ok := parseID(name, ext)
			if !ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), scanLimit)
			inf, err := d.info(ctx, d.Path(id), "qcow2")
			cancel()
			if err != nil {
				return fmt.Errorf("disk %d: %w", id, err)
			}
			d.sizes[id] = ceilMB(inf.VirtualSize)
			if src, ok := d.idOf(inf.BackingFilename); ok {
				d.backing[id] = src
			}
		}
	}
	for _, id := range markers {
		if _, ok := d.sizes[id]; ok {
			d.images[id] = true
			continue
		}
		if err := os.Remove(d.marker(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove orphan marker of disk %d: %w", id, err)
		}
	}
	return syncDir(d.dir)
}

func parseID(name, suffix string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSuffix(name, suffix), 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10)+suffix == name
}

// idOf returns the disk id of a path in this driver's directory.
func (d *Driver) idOf(path string) (int64, bool) {
	if path == "" || filepath.Dir(path) != d.dir {
		return 0, false
	}
	return parseID(filepath.Base(path), ext)
}

// Path implements volume.Driver: <dir>/<id>.qcow2.
func (d *Driver) Path(id int64) string { return d.file(id, ext) }

func (d *Driver) tmp(id int64) string    { return d.file(id, tmpExt) }
func (d *Driver) marker(id int64) string { return d.file(id, imageExt) }
func (d *Driver) file(id int64, suffix string) string {
	return filepath.Join(d.dir, strconv.FormatInt(id, 10)+suffix)
}

// Used returns the sum of the disks' virtual sizes and the capacity, in MB.
func (d *Driver) Used() (usedMB, capacityMB int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.sizes {
		usedMB += s
	}
	return usedMB, d.capMB
}

// Grow implements volume.Driver: it records that disk id grows to sizeMB through the
// hypervisor (a running VM); it fails with volume.ErrNoSpace beyond the capacity.
func (d *Driver) Grow(_ context.Context, id, sizeMB int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.sizes[id]; !ok {
		return fmt.Errorf("disk %d has no volume", id)
	}
	return d.setSizeLocked(id, sizeMB)
}

// setSizeLocked sets the accounted size of id if the capacity allows it (d.mu held).
func (d *Driver) setSizeLocked(id, sizeMB int64) error {
	var used int64
	for k, s := range d.sizes {
		if k != id {
			used += s
		}
	}
	if sizeMB > d.sizes[id] && used+sizeMB > d.capMB {
		return fmt.Errorf("disk %d of %d MB: %d of %d MB used: %w", id, sizeMB, used, d.capMB, volume.ErrNoSpace)
	}
	d.sizes[id] = sizeMB
	return nil
}

// reserve accounts for a new disk id of sizeMB; the returned func undoes it.
func (d *Driver) reserve(id, sizeMB int64) (release func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, had := d.sizes[id]
	if err := d.setSizeLocked(id, sizeMB); err != nil {
		return nil, err
	}
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if had {
			d.sizes[id] = old
		} else {
			delete(d.sizes, id)
		}
	}, nil
}

func (d *Driver) size(id int64) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.sizes[id]
	return s, ok
}

// lock serializes operations per disk id; ids are locked in order to avoid deadlocks.
func (d *Driver) lock(ids ...int64) (unlock func()) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var held []*idLock
	for _, id := range ids {
		d.mu.Lock()
		l := d.locks[id]
		if l == nil {
			l = &idLock{}
			d.locks[id] = l
		}
		l.refs++
		d.mu.Unlock()
		l.mu.Lock()
		held = append(held, l)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].mu.Unlock()
			d.mu.Lock()
			if held[i].refs--; held[i].refs == 0 {
				delete(d.locks, ids[i])
			}
			d.mu.Unlock()
		}
	}
}

// Exists implements volume.Driver: true when disk id's file is complete.
func (d *Driver) Exists(_ context.Context, id int64) (bool, error) {
	_, err := os.Stat(d.Path(id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("disk %d: %w", id, err)
}

func (d *Driver) exists(id int64) (bool, error) { return d.Exists(context.Background(), id) }

// Create implements volume.Driver: an empty qcow2 of sizeMB.
func (d *Driver) Create(ctx context.Context, id, sizeMB int64) error {
	if sizeMB <= 0 {
		return fmt.Errorf("disk %d: invalid size %d MB", id, sizeMB)
	}
	defer d.lock(id)()
	return d.make(ctx, id, sizeMB, func(tmp string) error {
		_, err := d.run(ctx, "create", "-q", "-f", "qcow2", tmp, mbArg(sizeMB))
		return err
	})
}

// CreateFrom implements volume.Driver: an overlay of an image disk, or a full copy of
// any other disk, of at least sizeMB.
func (d *Driver) CreateFrom(ctx context.Context, id, src, sizeMB int64) error {
	defer d.lock(id, src)()
	srcMB, err := d.source(id, src)
	if err != nil {
		return err
	}
	sizeMB = max(sizeMB, srcMB)
	d.mu.Lock()
	image := d.images[src]
	d.mu.Unlock()
	err = d.make(ctx, id, sizeMB, func(tmp string) error {
		if image {
			_, err := d.run(ctx, "create", "-q", "-f", "qcow2", "-b", d.Path(src), "-F", "qcow2", tmp, mbArg(sizeMB))
			return err
		}
		if _, err := d.run(ctx, "convert", "-U", "-f", "qcow2", "-O", "qcow2", d.Path(src), tmp); err != nil {
			return err
		}
		if sizeMB > srcMB {
			_, err := d.run(ctx, "resize", "-q", "-f", "qcow2", tmp, mbArg(sizeMB))
			return err
		}
		return nil
	})
	if err == nil && image {
		d.mu.Lock()
		d.backing[id] = src
		d.mu.Unlock()
	}
	return err
}

// Snapshot implements volume.Driver: an independent copy of src (crash-consistent when
// src is in use by a running VM).
func (d *Driver) Snapshot(ctx context.Context, id, src int64) error {
	defer d.lock(id, src)()
	srcMB, err := d.source(id, src)
	if err != nil {
		return err
	}
	return d.make(ctx, id, srcMB, func(tmp string) error {
		_, err := d.run(ctx, "convert", "-U", "-f", "qcow2", "-O", "qcow2", d.Path(src), tmp)
		return err
	})
}

// source checks that src exists and differs from id and returns its size.
func (d *Driver) source(id, src int64) (int64, error) {
	if id == src {
		return 0, fmt.Errorf("disk %d cannot be made from itself", id)
	}
	ok, err := d.exists(src)
	if err != nil {
		return 0, err
	}
	s, known := d.size(src)
	if ok && !known {
		// Made by another process on this directory (berthd admin image import).
		s, err = d.adopt(src)
		known = err == nil
	}
	if !ok || !known {
		return 0, fmt.Errorf("source disk %d has no volume", src)
	}
	return s, nil
}

// make creates disk id of sizeMB with fill writing the temporary file, unless it exists.
func (d *Driver) make(ctx context.Context, id, sizeMB int64, fill func(tmp string) error) error {
	ok, err := d.exists(id)
	if err != nil || ok {
		return err
	}
	release, err := d.reserve(id, sizeMB)
	if err != nil {
		return err
	}
	if err := d.commit(id, fill); err != nil {
		release()
		return fmt.Errorf("disk %d: %w", id, err)
	}
	return nil
}

// commit writes <id>.qcow2.tmp with fill, then syncs it and renames it over <id>.qcow2.
func (d *Driver) commit(id int64, fill func(tmp string) error) error {
	tmp := d.tmp(id)
	_ = os.Remove(tmp)
	if err := fill(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, d.Path(id)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename: %w", err)
	}
	return syncDir(d.dir)
}

// Rollback implements volume.Driver: disk id becomes a copy of snapshot snap, atomically.
// Its virtual size stays the larger of its own and the snapshot's.
func (d *Driver) Rollback(ctx context.Context, id, snap int64) error {
	defer d.lock(id, snap)()
	snapMB, err := d.source(id, snap)
	if err != nil {
		return err
	}
	ok, err := d.exists(id)
	if err != nil {
		return err
	}
	curMB, known := d.size(id)
	if !ok || !known {
		return fmt.Errorf("rollback of disk %d: it has no volume", id)
	}
	d.mu.Lock()
	for o, b := range d.backing {
		if b == id {
			d.mu.Unlock()
			return fmt.Errorf("rollback of disk %d: disk %d is made from it", id, o)
		}
	}
	d.mu.Unlock()
	sizeMB := max(curMB, snapMB)
	release, err := d.reserve(id, sizeMB)
	if err != nil {
		return err
	}
	err = d.commit(id, func(tmp string) error {
		if _, err := d.run(ctx, "convert", "-U", "-f", "qcow2", "-O", "qcow2", d.Path(snap), tmp); err != nil {
			return err
		}
		if sizeMB > snapMB {
			_, err := d.run(ctx, "resize", "-q", "-f", "qcow2", tmp, mbArg(sizeMB))
			return err
		}
		return nil
	})
	if err != nil {
		release()
		return fmt.Errorf("rollback of disk %d to %d: %w", id, snap, err)
	}
	d.mu.Lock()
	delete(d.backing, id) // the copy is flat
	d.mu.Unlock()
	return nil
}

// Resize implements volume.Driver: grows disk id to sizeMB (offline; shrinking fails).
func (d *Driver) Resize(ctx context.Context, id, sizeMB int64) error {
	defer d.lock(id)()
	ok, err := d.exists(id)
	if err != nil {
		return err
	}
	curMB, known := d.size(id)
	if !ok || !known {
		return fmt.Errorf("disk %d has no volume", id)
	}
	if sizeMB < curMB {
		return fmt.Errorf("disk %d of %d MB cannot shrink to %d MB", id, curMB, sizeMB)
	}
	inf, err := d.info(ctx, d.Path(id), "qcow2")
	if err != nil {
		return fmt.Errorf("disk %d: %w", id, err)
	}
	if inf.VirtualSize >= sizeMB*mib {
		// Done already, or grown by the hypervisor while the disk was in use.
		d.mu.Lock()
		d.sizes[id] = max(d.sizes[id], ceilMB(inf.VirtualSize))
		d.mu.Unlock()
		return nil
	}
	release, err := d.reserve(id, sizeMB)
	if err != nil {
		return err
	}
	if _, err := d.run(ctx, "resize", "-q", "-f", "qcow2", d.Path(id), mbArg(sizeMB)); err != nil {
		release()
		return fmt.Errorf("resize disk %d: %w", id, err)
	}
	if err := syncFile(d.Path(id)); err != nil {
		return fmt.Errorf("resize disk %d: %w", id, err)
	}
	return nil
}

// Delete implements volume.Driver: removes disk id's file. It refuses while another
// disk is an overlay of it.
func (d *Driver) Delete(_ context.Context, id int64) error {
	defer d.lock(id)()
	d.mu.Lock()
	var users []int64
	for o, b := range d.backing {
		if b == id {
			users = append(users, o)
		}
	}
	d.mu.Unlock()
	if len(users) > 0 {
		slices.Sort(users)
		return fmt.Errorf("disk %d is the backing file of disks %v", id, users)
	}
	for _, p := range []string{d.Path(id), d.tmp(id), d.marker(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete disk %d: %w", id, err)
		}
	}
	d.mu.Lock()
	delete(d.sizes, id)
	delete(d.images, id)
	delete(d.backing, id)
	d.mu.Unlock()
	return syncDir(d.dir)
}

// Import implements volume.Driver: disk id becomes a flat qcow2 copy of the qcow2 or raw
// file at path (a qcow2 with a backing file is flattened), grown to a whole number of MB,
// and is marked as an image, so that disks made from it are overlays.
func (d *Driver) Import(ctx context.Context, id int64, path string) (int64, error) {
	defer d.lock(id)()
	ok, err := d.exists(id)
	if err != nil {
		return 0, err
	}
	if ok {
		if s, known := d.size(id); known {
			return s, nil
		}
		inf, err := d.info(ctx, d.Path(id), "qcow2")
		if err != nil {
			return 0, fmt.Errorf("disk %d: %w", id, err)
		}
		d.mu.Lock()
		d.sizes[id] = ceilMB(inf.VirtualSize)
		d.mu.Unlock()
		return ceilMB(inf.VirtualSize), nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", path, err)
	}
	inf, err := d.info(ctx, abs, "")
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", path, err)
	}
	if inf.Format != "qcow2" && inf.Format != "raw" {
		return 0, fmt.Errorf("import %s: format %q is neither qcow2 nor raw", path, inf.Format)
	}
	if inf.VirtualSize <= 0 {
		return 0, fmt.Errorf("import %s: empty image", path)
	}
	sizeMB := ceilMB(inf.VirtualSize)
	release, err := d.reserve(id, sizeMB)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", path, err)
	}
	if shareable(abs, inf, sizeMB) && d.link(id, abs) == nil {
		d.mu.Lock()
		d.images[id] = true
		d.mu.Unlock()
		return sizeMB, nil
	}
	err = d.commit(id, func(tmp string) error {
		if _, err := d.run(ctx, "convert", "-U", "-f", inf.Format, "-O", "qcow2", abs, tmp); err != nil {
			return err
		}
		if inf.VirtualSize < sizeMB*mib {
			if _, err := d.run(ctx, "resize", "-q", "-f", "qcow2", tmp, mbArg(sizeMB)); err != nil {
				return err
			}
		}
		// The marker goes first: a complete disk under the final name is always marked.
		return writeMarker(d.marker(id))
	})
	if err != nil {
		release()
		_ = os.Remove(d.marker(id))
		return 0, fmt.Errorf("import %s as disk %d: %w", path, id, err)
	}
	d.mu.Lock()
	d.images[id] = true
	d.mu.Unlock()
	return sizeMB, nil
}

// shareable reports whether an image file can become a disk as it is, by a hard link
// instead of a copy: a qcow2 file of a whole number of MB, with no backing file, that
// nobody may write (the build's content-addressed images are 0444). An image disk is only
// ever read (the base of overlays), so the two names never see a change. A copy of the
// 900 MB Debian image took 4 s at every start of a new data directory.
func shareable(path string, inf *imgInfo, sizeMB int64) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o222 == 0 &&
		inf.Format == "qcow2" && inf.BackingFilename == "" && inf.VirtualSize == sizeMB*mib
}

// link makes image disk id a second name of file path (see shareable), marked first.
func (d *Driver) link(id int64, path string) error {
	tmp := d.tmp(id)
	_ = os.Remove(tmp)
	if err := writeMarker(d.marker(id)); err != nil {
		return err
	}
	if err := os.Link(path, tmp); err != nil {
		return err // another filesystem: copied instead
	}
	if err := os.Rename(tmp, d.Path(id)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(d.dir)
}

func writeMarker(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("image marker: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("image marker: %w", err)
	}
	return f.Close()
}

// imgInfo is the part of `qemu-img info --output=json` the driver reads.
type imgInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"full-backing-filename"`
}

// info runs qemu-img info -U on path; format "" lets qemu-img probe it.
func (d *Driver) info(ctx context.Context, path, format string) (*imgInfo, error) {
	args := []string{"info", "-U", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := d.run(ctx, append(args, path)...)
	if err != nil {
		return nil, err
	}
	var inf imgInfo
	if err := json.Unmarshal(out, &inf); err != nil {
		return nil, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return &inf, nil
}

// run runs qemu-img in its own process group; cancelling ctx kills the group.
func (d *Driver) run(ctx context.Context, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, d.qemuImg, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("qemu-img %s: %w", args[0], ctx.Err())
		}
		return nil, fmt.Errorf("qemu-img %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func mbArg(sizeMB int64) string { return strconv.FormatInt(sizeMB, 10) + "M" }

func ceilMB(bytes int64) int64 { return (bytes + mib - 1) / mib }

// syncFile makes a file private to root and flushes it to stable storage.
func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", err)
	}
	return f.Close()
}

// syncDir flushes a directory's entries (renames, removals) to stable storage.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
