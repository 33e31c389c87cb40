package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

var (
	_ hypervisor.GuestAgent      = (*Driver)(nil)
	_ hypervisor.DiskSnapshotter = (*Driver)(nil)
)

// qgaSock is the run directory's socket of the guest agent channel.
const qgaSock = "qga.sock"

// Bounds of the guest agent calls.
const (
	// guestCallTimeout bounds one guest agent call (a hostname set runs a shell).
	guestCallTimeout = 30 * time.Second
	// freezeTimeout bounds guest-fsfreeze-freeze (the guest flushes its dirty data
	// first); past it the snapshot goes on crash-consistent, after a thaw.
	freezeTimeout = 20 * time.Second
	// thawTimeout bounds each guest-fsfreeze-thaw try.
	thawTimeout = 10 * time.Second
	// backupTimeout bounds the copy of one disk by blockdev-backup.
	backupTimeout = 30 * time.Minute
)

// QGAPath returns the unix socket of VM id's guest agent channel.
func (d *Driver) QGAPath(id int64) string { return filepath.Join(d.dir(id), qgaSock) }

// guestLock returns VM id's guest agent mutex: the channel takes one client at a time
// (a second connection would wait unanswered until the first closes).
func (d *Driver) guestLock(id int64) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.guestMu == nil {
		d.guestMu = map[int64]*sync.Mutex{}
	}
	m, ok := d.guestMu[id]
	if !ok {
		m = new(sync.Mutex)
		d.guestMu[id] = m
	}
	return m
}

// withGuest connects to the guest agent of VM id, which must be running, and runs fn,
// holding the VM's guest agent mutex (not its operation lock: a ping does not wait for
// a hotplug).
func (d *Driver) withGuest(ctx context.Context, id int64, op string, fn func(context.Context, *qga) error) error {
	if v := d.lookup(ctx, id, false); v == nil {
		return fmt.Errorf("%s vm %d: %w", op, id, hypervisor.ErrNotRunning)
	}
	m := d.guestLock(id)
	m.Lock()
	defer m.Unlock()
	ctx, cancel := context.WithTimeout(ctx, guestCallTimeout)
	defer cancel()
	g, err := dialQGA(ctx, d.QGAPath(id))
	if err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	defer g.Close()
	if err := fn(ctx, g); err != nil {
		return fmt.Errorf("%s vm %d: %w", op, id, err)
	}
	return nil
}

// bootGrace is how long after its QEMU started a guest whose agent does not answer yet
// may still be booting: calls that change the guest wait for its agent until then.
const bootGrace = 5 * time.Minute

// withBootedGuest is withGuest, retried while the guest may still be booting (see
// bootGrace).
func (d *Driver) withBootedGuest(ctx context.Context, id int64, op string, fn func(context.Context, *qga) error) error {
	for {
		err := d.withGuest(ctx, id, op, fn)
		if err == nil || !errors.Is(err, hypervisor.ErrNoGuestAgent) {
			return err
		}
		fi, serr := os.Stat(filepath.Join(d.dir(id), pidFile))
		if serr != nil || time.Since(fi.ModTime()) > bootGrace {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

// GuestPing implements hypervisor.GuestAgent: guest-sync-delimited then guest-ping.
func (d *Driver) GuestPing(ctx context.Context, id int64) error {
	return d.withGuest(ctx, id, "ping guest agent of", func(ctx context.Context, g *qga) error {
		return g.call(ctx, "guest-ping", nil, nil)
	})
}

// SetGuestPassword implements hypervisor.GuestAgent with guest-set-user-password.
func (d *Driver) SetGuestPassword(ctx context.Context, id int64, user, password string) error {
	return d.withBootedGuest(ctx, id, "set password in", func(ctx context.Context, g *qga) error {
		if err := g.setPassword(ctx, user, password); err != nil {
			return err
		}
		d.log.Info("guest password set", "vm", id, "user", user)
		return nil
	})
}

// SetGuestHostname implements hypervisor.GuestAgent: guest-exec of /bin/sh, which sets
// the hostname, /etc/hostname and the 127.0.1.1 line of /etc/hosts.
func (d *Driver) SetGuestHostname(ctx context.Context, id int64, name string) error {
	return d.withBootedGuest(ctx, id, "set hostname in", func(ctx context.Context, g *qga) error {
		if err := g.setHostname(ctx, name); err != nil {
			return err
		}
		d.log.Info("guest hostname set", "vm", id, "hostname", name)
		return nil
	})
}

// SnapshotDisk implements hypervisor.DiskSnapshotter. The target becomes block node
// snap<diskID>; with the guest's filesystems frozen (when its agent answers), a
// blockdev-backup sync=full job starts: from then on QEMU copies each cluster the guest
// overwrites before the write, so the copy is the disk at the instant the job started.
// The filesystems are thawed at once (always, even when the start failed), then the job
// copies the rest while the VM runs.
func (d *Driver) SnapshotDisk(ctx context.Context, id, diskID int64, target string) (hypervisor.Consistency, error) {
	consistency := hypervisor.CrashConsistent
	err := d.live(ctx, id, "snapshot disk of", func(ctx context.Context, _ *vm, c *qmp.Client) error {
		if !filepath.IsAbs(target) {
			return fmt.Errorf("disk %d: snapshot target %q is not absolute", diskID, target)
		}
		src, node, job := diskNode(diskID), snapNode(diskID), "backup-"+snapNode(diskID)
		if _, ok, err := blockNode(ctx, c, src); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("disk %d is not attached", diskID)
		}
		// Left by an interrupted snapshot: its job and target node go first.
		_ = c.Execute(ctx, "block-job-cancel", map[string]any{"device": job, "force": true}, nil)
		if _, ok, err := blockNode(ctx, c, node); err != nil {
			return err
		} else if ok {
			if err := c.BlockdevDel(ctx, node); err != nil {
				return fmt.Errorf("disk %d: remove stale snapshot node: %w", diskID, err)
			}
		}
		if err := c.BlockdevAddQcow2(ctx, node, target, false); err != nil {
			return fmt.Errorf("disk %d: snapshot target: %w", diskID, err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := c.BlockdevDel(dctx, node); err != nil {
				d.log.Error("remove snapshot target node", "vm", id, "disk", diskID, "err", err)
			}
		}()

		done := c.Expect("BLOCK_JOB_COMPLETED", func(ev qmp.Event) bool { return ev.DataString("device") == job })
		defer done.Cancel()
		cancelled := c.Expect("BLOCK_JOB_CANCELLED", func(ev qmp.Event) bool { return ev.DataString("device") == job })
		defer cancelled.Cancel()

		var startErr error
		frozen, note := d.freeze(ctx, id)
		startErr = c.Execute(ctx, "blockdev-backup", map[string]any{
			"job-id": job, "device": src, "target": node, "sync": "full",
			"auto-finalize": true, "auto-dismiss": true,
		}, nil)
		if frozen {
			if err := d.thaw(ctx, id); err != nil {
				// The copy's point in time is set; the error is the guest's to fix.
				d.log.Error("guest filesystems may stay frozen", "vm", id, "err", err)
				if startErr == nil {
					startErr = fmt.Errorf("thaw the guest's filesystems: %w", err)
					_ = c.Execute(ctx, "block-job-cancel", map[string]any{"device": job, "force": true}, nil)
				}
			}
		}
		if startErr != nil {
			return fmt.Errorf("disk %d: %w", diskID, startErr)
		}
		if frozen {
			consistency = hypervisor.FSConsistent
		} else {
			d.log.Info("snapshot is crash-consistent", "vm", id, "disk", diskID, "why", note)
		}
		wctx, cancel := context.WithTimeout(ctx, backupTimeout)
		defer cancel()
		type result struct {
			ev  qmp.Event
			err error
		}
		ch := make(chan result, 2)
		go func() { ev, err := done.Wait(wctx); ch <- result{ev, err} }()
		go func() {
			if _, err := cancelled.Wait(wctx); err == nil {
				ch <- result{err: errors.New("backup job cancelled")}
			}
		}()
		r := <-ch
		if r.err != nil {
			_ = c.Execute(context.WithoutCancel(ctx), "block-job-cancel", map[string]any{"device": job, "force": true}, nil)
			return fmt.Errorf("disk %d: backup: %w", diskID, r.err)
		}
		if msg := r.ev.DataString("error"); msg != "" {
			return fmt.Errorf("disk %d: backup: %s", diskID, msg)
		}
		d.log.Info("disk snapshot copied", "vm", id, "disk", diskID, "consistency", consistency)
		return nil
	})
	return consistency, err
}

// freeze freezes the guest's filesystems through its agent, within freezeTimeout. It
// reports whether they are frozen, or why not. A freeze that failed is followed by a
// thaw (the guest may have frozen some filesystems before the error).
func (d *Driver) freeze(ctx context.Context, id int64) (bool, string) {
	fctx, cancel := context.WithTimeout(ctx, freezeTimeout)
	defer cancel()
	var n int
	err := d.withGuest(fctx, id, "freeze filesystems of", func(ctx context.Context, g *qga) error {
		return g.call(ctx, "guest-fsfreeze-freeze", nil, &n)
	})
	if err != nil {
		d.log.Warn("guest fsfreeze failed", "vm", id, "err", err)
		if !errors.Is(err, hypervisor.ErrNoGuestAgent) {
			// The guest may have frozen some filesystems before the error.
			if terr := d.thaw(ctx, id); terr != nil {
				d.log.Error("guest filesystems may stay frozen", "vm", id, "err", terr)
			}
		}
		return false, err.Error()
	}
	d.log.Info("guest filesystems frozen", "vm", id, "filesystems", n)
	return true, ""
}

// thaw thaws the guest's filesystems, trying three times (each within thawTimeout),
// whatever ctx says: a guest must never stay frozen because a caller went away.
func (d *Driver) thaw(ctx context.Context, id int64) error {
	var err error
	for range 3 {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), thawTimeout)
		err = d.withGuest(tctx, id, "thaw filesystems of", func(ctx context.Context, g *qga) error {
			var n int
			return g.call(ctx, "guest-fsfreeze-thaw", nil, &n)
		})
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// snapNode is the block node of the target of a snapshot of disk id.
func snapNode(id int64) string { return "snap" + diskNode(id) }
