// Package seed writes a VM's first-boot data as a NoCloud seed: an ISO 9660 image with
// Rock Ridge names and the volume id "cidata", made in pure Go with go-diskfs. It holds
//
//   - meta-data, user-data (#cloud-config) and network-config (version 2) for guests
//     that run cloud-init;
//   - berth/ files for the tiny guest (images/tiny), one value per file: hostname,
//     root_password, login, login_password, authorized_keys (one key per line), run,
//     script, script_args and ifaces (one "<mac> <cidr> <gateway-or-dash>" per address).
//     A file is absent when its value is empty.
//
// The seed holds a password, so the ISO is readable by its owner only (0600). It is
// written to a temporary file, synced, then renamed, so <dir>/<vmid>.iso is always
// complete.
//
// Two choices differ from the most literal config: chpasswd uses its "users" list,
// which cloud-init 22.4 (Debian 12) reads and which does not mark the run as degraded
// in later releases as the deprecated "list" does; and default routes are written
// "to: 0.0.0.0/0" (and "::/0"), which every cloud-init version parses, where "default"
// is not an address to older network-state parsers.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// VolumeID is the ISO volume identifier by which NoCloud guests find their seed.
const VolumeID = "cidata"

// Writer writes and removes the seeds of VMs under one directory.
type Writer struct {
	dir string
	mu  sync.Mutex // one seed written at a time: they are small and rare
}

// New returns a writer whose seeds live at <dir>/<vmid>.iso; dir is created when the
// first seed is written.
func New(dir string) *Writer { return &Writer{dir: dir} }

func (w *Writer) iso(vmID int64) string {
	return filepath.Join(w.dir, strconv.FormatInt(vmID, 10)+".iso")
}

// Path returns the seed of a VM, "" when it has none.
func (w *Writer) Path(vmID int64) string {
	p := w.iso(vmID)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Seed (re)writes the seed of a VM and returns its path.
func (w *Writer) Seed(ctx context.Context, vmID int64, instanceID string, fb FirstBoot, nics []NIC) (string, error) {
	files, err := Files(instanceID, fb, nics)
	if err != nil {
		return "", fmt.Errorf("vm %d: %w", vmID, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return "", fmt.Errorf("seed directory: %w", err)
	}
	dst := w.iso(vmID)
	if err := writeISO(dst, files); err != nil {
		return "", fmt.Errorf("seed of vm %d: %w", vmID, err)
	}
	return dst, nil
}

// UpdateNICs rewrites the NIC files of an existing seed (network-config, berth/ifaces)
// for a VM whose NICs changed while it runs. The file is rewritten in place, keeping its
// inode: QEMU holds it open, and the guest reads the new content from the same disk when a
// NIC it does not know appears (the tiny guest does; see images/README.md).
func (w *Writer) UpdateNICs(ctx context.Context, vmID int64, nics []NIC) error {
	nf, err := nicFiles(nics)
	if err != nil {
		return fmt.Errorf("vm %d: %w", vmID, err)
	}
	return w.rewrite(ctx, vmID, func(files map[string][]byte) {
		for k, v := range nf {
			if v == nil {
				delete(files, k)
			} else {
				files[k] = v
			}
		}
	})
}

// rewrite changes the files of VM vmID's existing seed with change and rewrites the ISO
// in place (see UpdateNICs).
func (w *Writer) rewrite(ctx context.Context, vmID int64, change func(files map[string][]byte)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	dst := w.iso(vmID)
	files, err := Read(dst)
	if err != nil {
		return fmt.Errorf("seed of vm %d: %w", vmID, err)
	}
	change(files)
	if err := ctx.Err(); err != nil {
		return err
	}
	staged := dst + ".new"
	defer os.Remove(staged)
	if err := writeISO(staged, files); err != nil {
		return fmt.Errorf("seed of vm %d: %w", vmID, err)
	}
	b, err := os.ReadFile(staged)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("rewrite seed of vm %d: %w", vmID, err)
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return err
	}
	return f.Sync()
}

// Remove deletes the seed of a VM; a VM without one is fine.
func (w *Writer) Remove(_ context.Context, vmID int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.iso(vmID)
	for _, f := range []string{p, p + ".tmp", p + ".work"} {
		if err := os.RemoveAll(f); err != nil {
			return fmt.Errorf("remove seed of vm %d: %w", vmID, err)
		}
	}
	if err := syncDir(w.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeISO writes files into an ISO at dst.tmp (staged in the private directory
// dst.work), syncs it and renames it to dst.
func writeISO(dst string, files map[string][]byte) (err error) {
	tmp, work := dst+".tmp", dst+".work"
	for _, p := range []string{tmp, work} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	defer func() {
		_ = os.RemoveAll(work)
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o600); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// The workspace given to go-diskfs is the staging tree; Finalize lays it out.
	isofs, err := iso9660.Create(file.New(f, false), 0, 0, 2048, work)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if err := isofs.Finalize(iso9660.FinalizeOptions{RockRidge: true, VolumeIdentifier: VolumeID}); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Read returns the files of a seed ISO by path (as Files names them); tests and
// operators use it to look inside a seed.
func Read(isoPath string) (map[string][]byte, error) {
	f, err := os.Open(isoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	isofs, err := iso9660.Read(file.New(f, true), st.Size(), 0, 2048)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", isoPath, err)
	}
	out := map[string][]byte{}
	err = fs.WalkDir(isofs, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(isofs, p)
		out[p] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", isoPath, err)
	}
	return out, nil
}
