// Package qemubench holds what the benchmarks of real QEMU guests share: where the built
// images are, and the checks of the machine before a run.
package qemubench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

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
