package qemu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Hotplug needs the guest's cooperation. On machine "pc" QEMU announces a plugged
// device, or asks for one to be released, through ACPI: it sets a bit of the PIIX4's
// GPE0 status register and raises an SCI, and the guest's handler (_E01, _E02, _E03)
// looks at what changed. A guest that has not yet enabled that GPE, because it is in
// its firmware or its kernel has not finished ACPI initialisation, misses the event:
// Linux clears stale GPE status bits when it enables its GPEs. Measured with QEMU 7.2
// and Berth Tiny: a device_del sent 1 s after start sets the status bit, the guest
// clears it and enables its GPEs (enable register 0x0e) 5 s later, and the device is
// never released; the same device_del repeated then completes in about a second.
//
// So the driver reads the GPE0 enable register (no read side effects), through the
// human monitor's "i", before every hotplug: the guest writes it once its handlers
// are in place, and a reset clears it. Unplug requests are repeated until the device
// is gone, which QEMU 7.2.x allows for ACPI PCI hotplug (its stable releases let a
// pending unplug request be sent again; older ones answer "already in the process of
// unplug", which is then waited out).
const (
	// gpe0EnablePort is the PIIX4 GPE0 enable register: GPE0_BLK is 4 bytes at 0xafe0,
	// status then enable.
	gpe0EnablePort = 0xafe0 + 2
	gpePCI         = 1 << 1 // ACPI PCI hotplug (disks, NICs)
	gpeCPU         = 1 << 2 // ACPI CPU hotplug
	gpeMemory      = 1 << 3 // ACPI memory hotplug
)

var (
	// readyTimeout bounds the wait for a booting guest to enable its hotplug events:
	// Berth Tiny takes up to ~30 s on an overloaded 2-core host, Debian 12 ~90 s.
	readyTimeout = 5 * time.Minute
	// readyPoll is how often the enable register is read meanwhile.
	readyPoll = 250 * time.Millisecond
	// unplugTimeout bounds the wait for a ready guest to release a device.
	unplugTimeout = 2 * time.Minute
	// unplugRetry is how long an unplug request is given before it is sent again.
	unplugRetry = 10 * time.Second
)

// errGuestNotReady is wrapped by the errors of a hotplug given up because the guest
// never enabled the ACPI hotplug events: nothing was changed.
var errGuestNotReady = errors.New("the guest is not ready for hotplug")

// gpeName names the hotplug events of bits in messages.
func gpeName(bits byte) string {
	var n []string
	if bits&gpePCI != 0 {
		n = append(n, "pci")
	}
	if bits&gpeCPU != 0 {
		n = append(n, "cpu")
	}
	if bits&gpeMemory != 0 {
		n = append(n, "memory")
	}
	return strings.Join(n, "+")
}

// guestReady reports whether the guest has enabled the ACPI hotplug events bits.
func guestReady(ctx context.Context, c *qmp.Client, bits byte) (bool, error) {
	en, err := c.InByte(ctx, gpe0EnablePort)
	if err != nil {
		return false, fmt.Errorf("read the guest's acpi gpe enable register: %w", err)
	}
	return en&bits == bits, nil
}

// waitReady waits until the guest of VM id has enabled the ACPI hotplug events bits,
// for at most readyTimeout. It does not take the VM's operation lock, so that a stop
// or another operation is not held up by a booting guest; the VM must keep running.
func (d *Driver) waitReady(ctx context.Context, id int64, bits byte) error {
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	start := time.Now()
	for {
		ok, err := d.readyOnce(wctx, id, bits)
		switch {
		case ok:
			if waited := time.Since(start); waited > time.Second {
				d.log.Info("guest ready for hotplug", "vm", id, "events", gpeName(bits), "waited", waited.Round(time.Millisecond))
			}
			return nil
		case errors.Is(err, hypervisor.ErrNotRunning):
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil:
			return fmt.Errorf("%w: it has not enabled acpi %s hotplug events after %s (still booting, or its os has no acpi hotplug); nothing was changed",
				errGuestNotReady, gpeName(bits), readyTimeout)
		case err != nil:
			d.log.Warn("guest hotplug readiness", "vm", id, "err", err)
		}
		select {
		case <-wctx.Done():
		case <-t.C:
		}
	}
}

// readyOnce checks the readiness of VM id's guest once.
func (d *Driver) readyOnce(ctx context.Context, id int64, bits byte) (bool, error) {
	v := d.lookup(ctx, id, false)
	if v == nil {
		return false, hypervisor.ErrNotRunning
	}
	c, err := v.qmp(ctx)
	if err != nil {
		return false, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return false, err
	}
	if guestGone(st.Status) {
		return false, fmt.Errorf("%w (qemu status %s)", hypervisor.ErrNotRunning, st.Status)
	}
	return guestReady(ctx, c, bits)
}

// hotplug is live for an operation that needs the guest's ACPI hotplug events bits:
// it waits for the guest to be ready (waitReady), then runs fn under the lock once the
// guest is still ready there (it may have rebooted in between: then it waits again).
func (d *Driver) hotplug(ctx context.Context, id int64, op string, bits byte, fn func(context.Context, *vm, *qmp.Client) error) error {
	for attempt := 1; ; attempt++ {
		if err := d.waitReady(ctx, id, bits); err != nil {
			return fmt.Errorf("%s vm %d: %w", op, id, err)
		}
		again := false
		err := d.live(ctx, id, op, func(ctx context.Context, v *vm, c *qmp.Client) error {
			ok, err := guestReady(ctx, c, bits)
			switch {
			case err != nil:
				return err
			case !ok && attempt < 3:
				again = true
				return nil
			case !ok:
				return fmt.Errorf("%w: it keeps disabling its acpi %s hotplug events (rebooting?); nothing was changed", errGuestNotReady, gpeName(bits))
			}
			return fn(ctx, v, c)
		})
		if !again {
			return err
		}
	}
}

// unplug removes device id (a PCI device or a DIMM): device_del, then wait for its
// DEVICE_DELETED. The request is sent again every unplugRetry while the guest has the
// events bits enabled (a guest that rebooted meanwhile lost it), for at most
// unplugTimeout. On failure the device stays plugged, possibly with a request pending
// that the guest may still honour later.
func unplug(parent context.Context, c *qmp.Client, id string, bits byte) error {
	ctx, cancel := context.WithTimeout(parent, unplugTimeout)
	defer cancel()
	deleted, stop := c.Subscribe(func(ev qmp.Event) bool {
		return ev.Name == "DEVICE_DELETED" && ev.DataString("device") == id
	})
	defer stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	sent := 0
	for {
		select {
		case _, ok := <-deleted:
			if !ok {
				return fmt.Errorf("unplug %s: qmp connection ended: %w", id, c.Err())
			}
			return nil
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("unplug %s: %w", id, parent.Err())
			}
			if sent == 0 {
				return fmt.Errorf("unplug %s: %w: it disabled its acpi %s hotplug events (rebooting?); nothing was changed", id, errGuestNotReady, gpeName(bits))
			}
			return fmt.Errorf("unplug %s: the guest did not release the device within %s (%d requests); it stays plugged: %w", id, unplugTimeout, sent, ctx.Err())
		case <-retry.C:
		}
		if ok, err := guestReady(ctx, c, bits); err != nil || !ok {
			retry.Reset(readyPoll) // a rebooting guest: ask again once it is ready
			continue
		}
		retry.Reset(unplugRetry)
		err := c.Execute(ctx, "device_del", map[string]any{"id": id}, nil)
		switch {
		case err == nil:
			sent++
		case isQMPError(err, "DeviceNotFound"):
			return nil // released between two requests
		case strings.Contains(err.Error(), "already in the process of unplug"):
			sent++ // older QEMU: the first request stays pending; wait for it
		case ctx.Err() != nil:
		default:
			return fmt.Errorf("unplug %s: %w", id, err)
		}
	}
}
