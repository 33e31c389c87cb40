package qemu

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// Stop implements hypervisor.Driver. It presses the ACPI power button and waits up to
// StopTimeout for the guest to power off, then quits QEMU, then kills it; it returns
// once the process is gone. A ctx that ends early only cuts the graceful wait short:
// the VM is still forced off before Stop returns. Stopping a halted VM does nothing.
func (d *Driver) Stop(ctx context.Context, id int64) error {
	unlock, err := d.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("stop vm %d: %w", id, err)
	}
	defer unlock()
	v := d.lookup(ctx, id, true)
	if v == nil {
		return nil
	}
	start := time.Now()
	graceful := d.powerdown(ctx, v)
	if err := d.kill(v); err != nil {
		return fmt.Errorf("stop vm %d: %w", id, err)
	}
	d.log.Info("vm stopped", "vm", id, "graceful", graceful, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// powerdownRepeat is how often powerdown presses the power button again while it waits.
const powerdownRepeat = 3 * time.Second

// powerdown asks the guest to power off and waits for it (or for the process to end)
// within StopTimeout and ctx. It reports whether the guest did.
func (d *Driver) powerdown(ctx context.Context, v *vm) bool {
	c, err := v.qmp(ctx)
	if err != nil {
		d.log.Warn("no qmp to power off the vm, killing it", "vm", v.id, "err", err)
		return false
	}
	st, err := c.Status(ctx)
	if err != nil || guestGone(st.Status) {
		return err == nil
	}
	events, cancel := c.Subscribe(func(ev qmp.Event) bool { return ev.Name == "SHUTDOWN" })
	defer cancel()
	if err := c.SystemPowerdown(ctx); err != nil {
		d.log.Warn("system_powerdown failed", "vm", v.id, "err", err)
		return false
	}
	t := time.NewTimer(d.cfg.StopTimeout)
	defer t.Stop()
	// A press the guest gets before it listens (acpid or logind not yet started, early
	// in boot) is lost, so the button is pressed again until the guest answers, as
	// OpenStack Nova does; a guest already shutting down ignores the repeats.
	again := time.NewTicker(powerdownRepeat)
	defer again.Stop()
	for {
		select {
		case <-again.C:
			if err := c.SystemPowerdown(ctx); err != nil {
				d.log.Debug("system_powerdown again failed", "vm", v.id, "err", err)
			}
		case ev, ok := <-events:
			if !ok {
				// The connection ended: QEMU exited (or is exiting).
				return true
			}
			if ev.DataString("reason") != "host-qmp-quit" {
				return true
			}
		case <-v.exited:
			return true
		case <-t.C:
			d.log.Warn("guest ignored the power button", "vm", v.id, "timeout", d.cfg.StopTimeout)
			return false
		case <-ctx.Done():
			return false
		}
	}
}
