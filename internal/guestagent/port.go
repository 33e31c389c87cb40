package guestagent

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PortName is the virtio-serial port name of the QEMU guest agent channel.
const PortName = "org.qemu.guest_agent.0"

// FindPort returns the device of the virtio-serial port called name, from
// sysfsDir/class/virtio-ports/*/name (busybox has no udev to make the
// /dev/virtio-ports/NAME link), or "" when there is none yet.
func FindPort(sysfsDir, devDir, name string) string {
	names, _ := filepath.Glob(filepath.Join(sysfsDir, "class", "virtio-ports", "*", "name"))
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(devDir, filepath.Base(filepath.Dir(p)))
		}
	}
	return ""
}

// hostGone is how long Run waits before reading again when the host end of the port is
// not connected (reads then return end of file at once).
const hostGone = 200 * time.Millisecond

// Run waits for the port device, opens it and serves requests until ctx ends. While
// the host is not connected the device reads end of file: Run reads again shortly.
func (a *Agent) Run(ctx context.Context, sysfsDir, devDir string) error {
	var dev string
	for dev == "" {
		if dev = FindPort(sysfsDir, devDir, PortName); dev != "" {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	a.cfg.Log.Printf("serving on %s", dev)
	for {
		err := a.Serve(f)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		time.Sleep(hostGone)
	}
}
