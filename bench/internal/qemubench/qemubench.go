// Package qemubench holds what the benchmarks of real QEMU guests share: where the built
// images are, the checks of the machine before a run, and reading the QEMU command line and
// disks of a VM berthd runs.
package qemubench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/berth-io/berth/internal/image"
)

// DefaultImages is $BERTH_CACHE, or .cache/images (make's default, from the repository root).
func DefaultImages() string {
	if d := os.Getenv("BERTH_CACHE"); d != "" {
		return d
	}
	return ".cache/images"
}

// Preflight checks that the bench runs as root, that QEMU and qemu-img are installed, and
// that the images directory holds an image labelled label; it returns the directory's
// absolute path.
func Preflight(images, label string) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("run as root: Berth's qemu backend makes network namespaces and taps")
	}
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%s not found (apt-get install qemu-system-x86 qemu-utils): %w", bin, err)
		}
	}
	abs, err := filepath.Abs(images)
	if err != nil {
		return "", err
	}
	ms, err := image.LoadDir(abs)
	if err != nil {
		return "", fmt.Errorf("images in %s (make tiny builds them): %w", abs, err)
	}
	for _, m := range ms {
		if m.Label == label {
			return abs, nil
		}
	}
	return "", fmt.Errorf("no %q image in %s: run make tiny", label, abs)
}

// CopyFile copies src to dst.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// Cmdline reads the executable and the arguments (argv[1:]) of process pid: the benches
// replay the QEMU command line berthd used.
func Cmdline(pid int) (exe string, args []string, err error) {
	if exe, err = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil {
		return "", nil, fmt.Errorf("qemu executable: %w", err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", nil, fmt.Errorf("qemu command line: %w", err)
	}
	argv := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if len(argv) < 2 {
		return "", nil, fmt.Errorf("qemu %d: command line %q", pid, argv)
	}
	return exe, argv[1:], nil
}

// Blockdev is the part of a -blockdev JSON argument the benches read.
type Blockdev struct {
	Driver string `json:"driver"`
	Node   string `json:"node-name"`
	File   struct {
		Driver   string `json:"driver"`
		Filename string `json:"filename"`
	} `json:"file"`
}

// ParseBlockdev decodes the argument of a -blockdev option.
func ParseBlockdev(arg string) (Blockdev, error) {
	var bd Blockdev
	if err := json.Unmarshal([]byte(arg), &bd); err != nil {
		return bd, fmt.Errorf("-blockdev %s: %w", arg, err)
	}
	return bd, nil
}

// ImgInfo is the part of `qemu-img info --output=json` the benches read.
type ImgInfo struct {
	VirtualSize   int64  `json:"virtual-size"`
	Backing       string `json:"full-backing-filename"`
	BackingFormat string `json:"backing-filename-format"`
}

// ImageInfo describes a disk image (-U: QEMU holds it open).
func ImageInfo(path string) (ImgInfo, error) {
	var info ImgInfo
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return info, nil
}
