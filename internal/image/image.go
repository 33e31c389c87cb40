// Package image is the catalog of guest images Berth boots.
//
// Images are built outside the daemon by `make tiny` / `make debian12`
// (images/images.mk), which leave one directory per image in the image cache
// ($(BERTH_CACHE), by default .cache/images): a manifest.json naming a qcow2
// base disk, a kernel, an initrd and the default kernel command line for
// direct kernel boot. The files a manifest names are content-addressed and
// read-only, so a manifest that was valid once stays usable as the backing
// file of existing VM disks even after a rebuild writes a newer one.
//
// The daemon registers images by reading those manifests with LoadDir.
package image

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ManifestFile is the name of the manifest inside an image's directory.
const ManifestFile = "manifest.json"

// ErrInvalid marks a manifest that is malformed or names missing files.
var ErrInvalid = errors.New("invalid image manifest")

// Manifest describes one built guest image (the JSON written by
// images/manifest.sh).
type Manifest struct {
	// Name is the short, stable identifier ("tiny", "debian12").
	Name string `json:"name"`
	// Label is the human name shown to API clients ("Berth Tiny").
	Label string `json:"label"`
	// OSArch is the architecture, "x86-64".
	OSArch string `json:"os_arch"`
	// System is the OS family ("Berth", "Debian").
	System string `json:"system"`
	// Version is the OS version ("1", "12").
	Version string `json:"version"`
	// Disk is the absolute path of the qcow2 base image.
	Disk string `json:"disk"`
	// SizeMB is the disk's virtual size in MiB.
	SizeMB int64 `json:"size_mb"`
	// Kernel is the absolute path of the kernel (bzImage) for -kernel.
	Kernel string `json:"kernel"`
	// Initrd is the absolute path of the initramfs for -initrd.
	Initrd string `json:"initrd"`
	// Cmdline is the default kernel command line for -append.
	Cmdline string `json:"cmdline"`
	// KernelVersion is the kernel release, e.g. "6.1.0-56-cloud-amd64".
	KernelVersion string `json:"kernel_version"`
	// Built is when the image was built (zero when the manifest has none).
	Built time.Time `json:"built,omitzero"`
}

// namePattern is what an image name may look like.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Load reads and validates the manifest at path.
func Load(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("read image manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// LoadDir reads every dir/*/manifest.json and returns the valid manifests
// sorted by name. Invalid manifests (or two with the same name) are left
// out and reported together in the error, so a caller may use the valid
// ones and log the rest. A missing dir is an error wrapping fs.ErrNotExist.
func LoadDir(dir string) ([]Manifest, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read image directory: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*", ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read image directory %s: %w", dir, err)
	}
	sort.Strings(paths)
	var (
		out  []Manifest
		errs []error
		seen = map[string]string{}
	)
	for _, p := range paths {
		m, err := Load(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[m.Name]; dup {
			errs = append(errs, fmt.Errorf("%w %s: name %q already used by %s", ErrInvalid, p, m.Name, prev))
			continue
		}
		seen[m.Name] = p
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// Find returns the manifest called name.
func Find(ms []Manifest, name string) (Manifest, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return Manifest{}, false
}

// Validate checks the fields and that the files exist and look right: the
// disk is a qcow2 whose virtual size matches SizeMB, the kernel a bzImage,
// the initrd not empty.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namePattern.MatchString(m.Name) {
		bad("name %q must match %s", m.Name, namePattern)
	}
	for field, v := range map[string]string{
		"label": m.Label, "os_arch": m.OSArch, "system": m.System, "version": m.Version,
		"cmdline": m.Cmdline, "kernel_version": m.KernelVersion,
	} {
		if strings.TrimSpace(v) == "" {
			bad("%s is empty", field)
		}
	}
	if m.SizeMB <= 0 {
		bad("size_mb %d is not positive", m.SizeMB)
	}
	if err := checkDisk(m.Disk, m.SizeMB); err != nil {
		bad("disk: %w", err)
	}
	if err := checkKernel(m.Kernel); err != nil {
		bad("kernel: %w", err)
	}
	if _, err := regularFile(m.Initrd); err != nil {
		bad("initrd: %w", err)
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("%w %q: %w", ErrInvalid, m.Name, errors.Join(errs...))
}

// regularFile opens path, which must be absolute and a non-empty regular file.
func regularFile(path string) (*os.File, error) {
	if path == "" {
		return nil, errors.New("path is empty")
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("path %q is not absolute", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("%s is not a non-empty regular file", path)
	}
	return f, nil
}

// readAt reads len(buf) bytes at off from path (after regularFile checks).
func readAt(path string, buf []byte, off int64) error {
	f, err := regularFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s is too short", path)
		}
		return err
	}
	return nil
}

// qcow2Magic starts every qcow2 file; the virtual size is the big-endian
// uint64 at offset 24 of the header.
const qcow2Magic = "QFI\xfb"

// checkDisk verifies that path is a qcow2 of sizeMB MiB (rounded down).
func checkDisk(path string, sizeMB int64) error {
	hdr := make([]byte, 32)
	if err := readAt(path, hdr, 0); err != nil {
		return err
	}
	if string(hdr[:4]) != qcow2Magic {
		return fmt.Errorf("%s is not qcow2", path)
	}
	virt := int64(binary.BigEndian.Uint64(hdr[24:32]))
	if virt>>20 != sizeMB {
		return fmt.Errorf("%s has a virtual size of %d MiB, manifest says %d", path, virt>>20, sizeMB)
	}
	return nil
}

// checkKernel verifies that path is an x86 bzImage ("HdrS" at 0x202).
func checkKernel(path string) error {
	magic := make([]byte, 4)
	if err := readAt(path, magic, 0x202); err != nil {
		return err
	}
	if string(magic) != "HdrS" {
		return fmt.Errorf("%s is not a bzImage", path)
	}
	return nil
}
