// Package qemubench holds what the benchmarks of real QEMU guests share: where the built
// images are, and the checks of the machine before a run.
package qemubench

import (
	"errors"
	"fmt"
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
