package qcow2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/volume"
)

// needTools skips the test when qemu-img or qemu-io is missing, except in CI.
func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (Debian qemu-utils): %v", tool, err)
			}
			t.Skipf("%s not installed (Debian qemu-utils)", tool)
		}
	}
}

func newTest(t *testing.T, capacityMB int64) *Driver {
	t.Helper()
	needTools(t)
	d, err := New(t.TempDir(), capacityMB)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// fileInfo is what the tests read of qemu-img info.
type fileInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	Backing     string `json:"backing-filename"`
}

func inspect(t *testing.T, path string) fileInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var fi fileInfo
	if err := json.Unmarshal(out, &fi); err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	return fi
}

// qemuIO runs one qemu-io command on a file; it fails when a read pattern differs.
func qemuIO(path, format, command string) error {
	out, err := exec.Command("qemu-io", "-f", format, "-c", command, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-io %q %s: %w: %s", command, path, err, out)
	}
	return nil
}

func write(t *testing.T, path string, pattern byte) {
	t.Helper()
	if err := qemuIO(path, "qcow2", fmt.Sprintf("write -P 0x%02x 0 1M", pattern)); err != nil {
		t.Fatal(err)
	}
}

func holds(t *testing.T, path string, pattern byte) bool {
	t.Helper()
	return qemuIO(path, "qcow2", fmt.Sprintf("read -P 0x%02x 0 1M", pattern)) == nil
}

func mustExist(t *testing.T, d *Driver, id int64, want bool) {
	t.Helper()
	ok, err := d.Exists(context.Background(), id)
	if err != nil {
		t.Fatalf("Exists(%d): %v", id, err)
	}
	if ok != want {
		t.Fatalf("Exists(%d) = %v, want %v", id, ok, want)
	}
}

func wantUsed(t *testing.T, d *Driver, used, capacity int64) {
	t.Helper()
	u, c := d.Used()
	if diff := cmp.Diff([2]int64{used, capacity}, [2]int64{u, c}); diff != "" {
		t.Fatalf("Used() (-want +got):\n%s", diff)
	}
}

// rawImage writes a raw file of size bytes whose first MB holds pattern.
func rawImage(t *testing.T, size int64, pattern byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.raw")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	if err := qemuIO(p, "raw", fmt.Sprintf("write -P 0x%02x 0 1M", pattern)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	for range 2 { // the second call is a no-op
		if err := d.Create(ctx, 1, 64); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	mustExist(t, d, 1, true)
	mustExist(t, d, 2, false)
	if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: 64 << 20}, inspect(t, d.Path(1))); diff != "" {
		t.Errorf("disk (-want +got):\n%s", diff)
	}
	st, err := os.Stat(d.Path(1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if !filepath.IsAbs(d.Path(1)) || d.Path(1) != filepath.Join(d.dir, "1.qcow2") {
		t.Errorf("Path(1) = %q", d.Path(1))
	}
	wantUsed(t, d, 64, 1000)
	if err := d.Create(ctx, 3, 0); err == nil {
		t.Error("Create of 0 MB succeeded")
	}
}

func TestCreateFromImageIsOverlay(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	raw := rawImage(t, 32<<20, 0x42)
	if _, err := d.Import(ctx, 1, raw); err != nil {
		t.Fatalf("Import: %v", err)
	}
	for range 2 {
		if err := d.CreateFrom(ctx, 2, 1, 128); err != nil {
			t.Fatalf("CreateFrom: %v", err)
		}
	}
	got := inspect(t, d.Path(2))
	if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: 128 << 20, Backing: d.Path(1)}, got); diff != "" {
		t.Errorf("overlay (-want +got):\n%s", diff)
	}
	if !holds(t, d.Path(2), 0x42) {
		t.Error("overlay does not show the image's data")
	}
	write(t, d.Path(2), 0x43)
	if !holds(t, d.Path(1), 0x42) {
		t.Error("a write to the overlay changed the image")
	}
	if !holds(t, d.Path(2), 0x43) {
		t.Error("overlay lost its write")
	}
	if err := d.Delete(ctx, 1); err == nil || !strings.Contains(err.Error(), "backing file") {
		t.Errorf("Delete of an image in use = %v, want a backing-file error", err)
	}
	mustExist(t, d, 1, true)
	wantUsed(t, d, 32+128, 1000)
	// A disk made from the overlay (a user's disk) is a flat copy of what it shows.
	if err := d.CreateFrom(ctx, 3, 2, 0); err != nil {
		t.Fatalf("CreateFrom overlay: %v", err)
	}
	if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: 128 << 20}, inspect(t, d.Path(3))); diff != "" {
		t.Errorf("copy of overlay (-want +got):\n%s", diff)
	}
	for _, id := range []int64{2, 1} {
		if err := d.Delete(ctx, id); err != nil {
			t.Fatalf("Delete(%d): %v", id, err)
		}
	}
	if !holds(t, d.Path(3), 0x43) {
		t.Error("the copy depends on the deleted overlay or image")
	}
}

func TestCreateFromDiskIsCopy(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name           string
		srcMB, sizeMB  int64
		wantMB         int64
		deleteSourceOK bool
	}{
		{name: "grown", srcMB: 64, sizeMB: 100, wantMB: 100},
		{name: "same size", srcMB: 64, sizeMB: 64, wantMB: 64},
		{name: "smaller size keeps the source's", srcMB: 64, sizeMB: 10, wantMB: 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTest(t, 1000)
			if err := d.Create(ctx, 1, tt.srcMB); err != nil {
				t.Fatal(err)
			}
			write(t, d.Path(1), 0x42)
			for range 2 {
				if err := d.CreateFrom(ctx, 2, 1, tt.sizeMB); err != nil {
					t.Fatalf("CreateFrom: %v", err)
				}
			}
			if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: tt.wantMB << 20}, inspect(t, d.Path(2))); diff != "" {
				t.Errorf("copy (-want +got):\n%s", diff)
			}
			write(t, d.Path(1), 0x44)
			if err := d.Delete(ctx, 1); err != nil {
				t.Fatalf("Delete source: %v", err)
			}
			if !holds(t, d.Path(2), 0x42) {
				t.Error("the copy does not hold the source's data")
			}
			wantUsed(t, d, tt.wantMB, 1000)
		})
	}
	d := newTest(t, 1000)
	if err := d.CreateFrom(ctx, 2, 9, 10); err == nil {
		t.Error("CreateFrom a missing source succeeded")
	}
	mustExist(t, d, 2, false)
	if err := d.CreateFrom(ctx, 2, 2, 10); err == nil {
		t.Error("CreateFrom itself succeeded")
	}
}

func TestSnapshotRollback(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	if err := d.Create(ctx, 1, 64); err != nil {
		t.Fatal(err)
	}
	write(t, d.Path(1), 0x42)
	for range 2 {
		if err := d.Snapshot(ctx, 2, 1); err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
	}
	if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: 64 << 20}, inspect(t, d.Path(2))); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	write(t, d.Path(1), 0x43)
	if !holds(t, d.Path(2), 0x42) {
		t.Fatal("the snapshot changed with its source")
	}
	if err := d.Resize(ctx, 1, 80); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Rollback(ctx, 1, 2); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
	}
	if !holds(t, d.Path(1), 0x42) {
		t.Error("rollback did not restore the snapshot's data")
	}
	if got := inspect(t, d.Path(1)).VirtualSize; got != 80<<20 {
		t.Errorf("size after rollback %d, want the grown 80 MB", got)
	}
	// The rolled-back disk is independent of the snapshot.
	write(t, d.Path(1), 0x45)
	if err := d.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if !holds(t, d.Path(1), 0x45) {
		t.Error("disk lost its data after the snapshot's deletion")
	}
	if _, err := os.Stat(d.tmp(1)); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	wantUsed(t, d, 80, 1000)
	if err := d.Rollback(ctx, 1, 2); err == nil {
		t.Error("Rollback to a deleted snapshot succeeded")
	}
	if err := d.Rollback(ctx, 7, 1); err == nil {
		t.Error("Rollback of a missing disk succeeded")
	}
}

func TestSnapshotOfDiskInUse(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	if err := d.Create(ctx, 1, 16); err != nil {
		t.Fatal(err)
	}
	write(t, d.Path(1), 0x42)
	// qemu-io keeps the disk open with its write lock, as a running VM does.
	cmd := exec.Command("qemu-io", "-f", "qcow2", d.Path(1))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for qemuIO(d.Path(1), "qcow2", "read 0 512") == nil { // succeeds until the lock is held
		if time.Now().After(deadline) {
			t.Fatal("qemu-io never locked the disk")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.Snapshot(ctx, 2, 1); err != nil {
		t.Fatalf("Snapshot of a locked disk: %v", err)
	}
	if !holds(t, d.Path(2), 0x42) {
		t.Error("snapshot lacks the data")
	}
}

func TestResize(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	if err := d.Create(ctx, 1, 64); err != nil {
		t.Fatal(err)
	}
	write(t, d.Path(1), 0x42)
	tests := []struct {
		name    string
		id, mb  int64
		wantErr bool
		wantMB  int64
	}{
		{name: "grow", id: 1, mb: 100, wantMB: 100},
		{name: "again", id: 1, mb: 100, wantMB: 100},
		{name: "shrink", id: 1, mb: 50, wantErr: true, wantMB: 100},
		{name: "missing disk", id: 2, mb: 50, wantErr: true, wantMB: 100},
	}
	for _, tt := range tests {
		err := d.Resize(ctx, tt.id, tt.mb)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Resize = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if got := inspect(t, d.Path(1)).VirtualSize; got != tt.wantMB<<20 {
			t.Errorf("%s: size %d, want %d MB", tt.name, got, tt.wantMB)
		}
	}
	if !holds(t, d.Path(1), 0x42) {
		t.Error("resize lost data")
	}
	wantUsed(t, d, 100, 1000)
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	needTools(t)
	qcow := func(t *testing.T, size int64, backed bool) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "image.qcow2")
		args := []string{"create", "-q", "-f", "qcow2", p, strconv.FormatInt(size, 10)}
		if backed {
			base := filepath.Join(dir, "base.qcow2")
			if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, strconv.FormatInt(size, 10)).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if err := qemuIO(base, "qcow2", "write -P 0x42 0 1M"); err != nil {
				t.Fatal(err)
			}
			args = []string{"create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", p}
		}
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !backed {
			if err := qemuIO(p, "qcow2", "write -P 0x42 0 1M"); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	tests := []struct {
		name   string
		make   func(t *testing.T) string
		wantMB int64
	}{
		{name: "raw", make: func(t *testing.T) string { return rawImage(t, 48<<20, 0x42) }, wantMB: 48},
		{name: "raw, size rounded up", make: func(t *testing.T) string { return rawImage(t, 48<<20+512, 0x42) }, wantMB: 49},
		{name: "qcow2", make: func(t *testing.T) string { return qcow(t, 40<<20, false) }, wantMB: 40},
		{name: "qcow2 with a backing file", make: func(t *testing.T) string { return qcow(t, 40<<20, true) }, wantMB: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTest(t, 1000)
			src := tt.make(t)
			for range 2 {
				mb, err := d.Import(ctx, 5, src)
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				if mb != tt.wantMB {
					t.Errorf("Import = %d MB, want %d", mb, tt.wantMB)
				}
			}
			if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: tt.wantMB << 20}, inspect(t, d.Path(5))); diff != "" {
				t.Errorf("imported disk (-want +got):\n%s", diff)
			}
			if !holds(t, d.Path(5), 0x42) {
				t.Error("imported disk lacks the image's data")
			}
			if err := os.RemoveAll(filepath.Dir(src)); err != nil {
				t.Fatal(err)
			}
			if !holds(t, d.Path(5), 0x42) {
				t.Error("imported disk depends on the source file")
			}
			wantUsed(t, d, tt.wantMB, 1000)
		})
	}
	// A read-only qcow2 image (the build's) is shared by a hard link; a writable one is copied.
	t.Run("read-only qcow2 is shared", func(t *testing.T) {
		for _, mode := range []os.FileMode{0o444, 0o644} {
			d := newTest(t, 1000)
			src := qcow(t, 40<<20, false)
			if err := os.Chmod(src, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Import(ctx, 5, src); err != nil {
				t.Fatalf("Import: %v", err)
			}
			a, errA := os.Stat(src)
			b, errB := os.Stat(d.Path(5))
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if shared := os.SameFile(a, b); shared != (mode == 0o444) {
				t.Errorf("image of mode %v: shared %v", mode, shared)
			}
			if a.Mode().Perm() != mode {
				t.Errorf("the source's mode became %v", a.Mode().Perm())
			}
			if !holds(t, d.Path(5), 0x42) {
				t.Error("imported disk lacks the image's data")
			}
			wantUsed(t, d, 40, 1000)
		}
	})
	t.Run("other format", func(t *testing.T) {
		d := newTest(t, 1000)
		p := filepath.Join(t.TempDir(), "image.vmdk")
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "vmdk", p, "8M").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if _, err := d.Import(ctx, 5, p); err == nil || !strings.Contains(err.Error(), "vmdk") {
			t.Errorf("Import of a vmdk = %v, want a format error", err)
		}
		if _, err := d.Import(ctx, 6, filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("Import of a missing file succeeded")
		}
		mustExist(t, d, 5, false)
		wantUsed(t, d, 0, 1000)
	})
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	if err := d.Create(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Delete(ctx, 1); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	mustExist(t, d, 1, false)
	wantUsed(t, d, 0, 1000)
	if err := d.Delete(ctx, 99); err != nil {
		t.Errorf("Delete of a missing disk: %v", err)
	}
}

func TestNoSpace(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 100)
	if err := d.Create(ctx, 1, 60); err != nil {
		t.Fatal(err)
	}
	big := rawImage(t, 50<<20, 0x42)
	tests := []struct {
		name string
		call func() error
		id   int64 // a disk the failed call must not leave behind
	}{
		{"create", func() error { return d.Create(ctx, 2, 50) }, 2},
		{"copy", func() error { return d.CreateFrom(ctx, 3, 1, 60) }, 3},
		{"snapshot", func() error { return d.Snapshot(ctx, 4, 1) }, 4},
		{"resize", func() error { return d.Resize(ctx, 1, 101) }, 0},
		{"import", func() error { _, err := d.Import(ctx, 5, big); return err }, 5},
		{"reserve", func() error { return d.Grow(context.Background(), 1, 120) }, 0},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, volume.ErrNoSpace) {
			t.Errorf("%s = %v, want ErrNoSpace", tt.name, err)
		}
		if tt.id != 0 {
			mustExist(t, d, tt.id, false)
			if _, err := os.Stat(d.tmp(tt.id)); !os.IsNotExist(err) {
				t.Errorf("%s left a temporary file: %v", tt.name, err)
			}
		}
	}
	wantUsed(t, d, 60, 100)
	if got := inspect(t, d.Path(1)).VirtualSize; got != 60<<20 {
		t.Errorf("refused resize changed the disk to %d", got)
	}
	if err := d.Create(ctx, 2, 40); err != nil {
		t.Fatalf("Create within capacity: %v", err)
	}
	if err := d.Delete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := d.Resize(ctx, 2, 100); err != nil {
		t.Fatalf("Resize into freed space: %v", err)
	}
	wantUsed(t, d, 100, 100)
}

func TestConcurrentCapacity(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 100)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { errs[i] = d.Create(ctx, int64(i+1), 20) })
	}
	wg.Wait()
	made := 0
	for i, err := range errs {
		switch {
		case err == nil:
			made++
			mustExist(t, d, int64(i+1), true)
		case errors.Is(err, volume.ErrNoSpace):
			mustExist(t, d, int64(i+1), false)
		default:
			t.Errorf("Create %d: %v", i+1, err)
		}
	}
	if made != 5 {
		t.Errorf("%d disks of 20 MB made in 100 MB, want 5", made)
	}
	wantUsed(t, d, 100, 100)
}

func TestDefaultCapacity(t *testing.T) {
	d := newTest(t, 0)
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize >> 20
	_, c := d.Used()
	// Other processes write to the filesystem meanwhile: allow 5% of slack.
	if want := free * 9 / 10; c <= 0 || c > want+want/20 || c < want-want/20 {
		t.Errorf("capacity %d MB, want about %d (90%% of %d free)", c, want, free)
	}
	if _, err := New(t.TempDir(), -1); err == nil {
		t.Error("New with a negative capacity succeeded")
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	d := newTest(t, 1000)
	if _, err := d.Import(ctx, 1, rawImage(t, 32<<20, 0x42)); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateFrom(ctx, 2, 1, 64); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, 3, 16); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: half-written disks and the marker of an import never renamed.
	for _, name := range []string{"4.qcow2.tmp", "3.qcow2.tmp", "4.image"} {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.dir, "notes.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(d.dir, 1000)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	mustExist(t, r, 4, false)
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"1.image", "1.qcow2", "2.qcow2", "3.qcow2", "notes.txt"}, names); diff != "" {
		t.Errorf("files after reopen (-want +got):\n%s", diff)
	}
	wantUsed(t, r, 32+64+16, 1000)
	if err := r.Delete(ctx, 1); err == nil {
		t.Error("after reopen, Delete of an image in use succeeded")
	}
	if err := r.CreateFrom(ctx, 5, 1, 32); err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, r.Path(5)).Backing; got != r.Path(1) {
		t.Errorf("after reopen, a disk from the image has backing %q, want an overlay", got)
	}
	if err := r.Create(ctx, 4, 8); err != nil {
		t.Fatalf("Create over a cleaned leftover: %v", err)
	}
	if got := inspect(t, r.Path(4)).VirtualSize; got != 8<<20 {
		t.Errorf("disk 4 is %d bytes", got)
	}
}

func TestCancelKillsQemuImg(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	fake := filepath.Join(t.TempDir(), "qemu-img")
	script := "#!/bin/sh\necho $$ > " + pidFile + ".new && mv " + pidFile + ".new " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(dir, 100, fake)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Create(ctx, 1, 10) }()
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake qemu-img never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Create did not return after cancellation")
	}
	if time.Since(start) > 20*time.Second {
		t.Error("Create waited for the child")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("qemu-img child %d still exists: %v", pid, err)
	}
	mustExist(t, d, 1, false)
	wantUsed(t, d, 0, 100)
}
