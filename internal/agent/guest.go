package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/volume"
)

// guestUser is the account whose password vm.update's password sets (Gandi's root
// password).
const guestUser = "root"

// guestUpdate carries a vm_update's hostname and password into the running guest
// through its agent. It never fails the operation: the update is recorded whatever
// happens, and the operation's params say whether the guest got it (ops.ResultGuest).
func (a *Agent) guestUpdate(ctx context.Context, op *store.Operation, u ops.VMUpdateSpec) {
	if u.Hostname == nil && u.Password == nil {
		return
	}
	if up, ok := a.seed.(HostnameUpdater); ok && u.Hostname != nil && a.seed.Path(op.VMID) != "" {
		// The guest sets its hostname from the seed at every boot: the new one, now.
		if err := up.UpdateHostname(ctx, op.VMID, *u.Hostname); err != nil {
			a.log.Error("hostname not written to the seed", "vm", op.VMID, "err", err)
		}
	}
	ga, ok := a.hv.(hypervisor.GuestAgent)
	if !ok {
		return // no guest to reach (the sim backend)
	}
	run, err := a.running(ctx, op.VMID)
	switch {
	case err != nil:
		ops.SetResult(op, ops.ResultGuest, "not reached: "+err.Error())
		return
	case !run:
		ops.SetResult(op, ops.ResultGuest, "not reached: the vm is not running")
		return
	}
	if u.Hostname != nil {
		err = ga.SetGuestHostname(ctx, op.VMID, *u.Hostname)
	}
	if err == nil && u.Password != nil {
		err = ga.SetGuestPassword(ctx, op.VMID, guestUser, *u.Password)
	}
	if err != nil {
		a.log.Warn("vm update did not reach the guest", "vm", op.VMID, "op", op.ID, "err", err)
		ops.SetResult(op, ops.ResultGuest, "not reached: "+guestReason(err))
		return
	}
	ops.SetResult(op, ops.ResultGuest, "updated")
}

// HostnameUpdater is implemented by seeders that can change the hostname of a VM's
// existing seed.
type HostnameUpdater interface {
	UpdateHostname(ctx context.Context, vmID int64, hostname string) error
}

// guestReason is why a guest could not be reached, for the operation's params.
func guestReason(err error) string {
	if errors.Is(err, hypervisor.ErrNoGuestAgent) {
		return hypervisor.ErrNoGuestAgent.Error()
	}
	return err.Error()
}

// GuestAgent states of Observation.GuestAgent.
const (
	GuestAgentUp   = "up"
	GuestAgentDown = "down"
)

// guestState pings the guest agent of running VM id: GuestAgentUp or GuestAgentDown, ""
// when the driver has no guest agents or the answer is not known (the agent is busy).
func (a *Agent) guestState(ctx context.Context, id int64) string {
	ga, ok := a.hv.(hypervisor.GuestAgent)
	if !ok {
		return ""
	}
	err := ga.GuestPing(ctx, id)
	switch {
	case err == nil:
		return GuestAgentUp
	case errors.Is(err, hypervisor.ErrNoGuestAgent):
		return GuestAgentDown
	}
	return ""
}

// snapshot makes disk id a snapshot of disk src. A disk in use by a running VM is
// copied by the hypervisor while the VM runs, its guest's filesystems frozen through
// its agent for the instant the copy starts; without that, qemu-img copies it
// crash-consistently. The result says which (ops.ResultConsistency).
func (a *Agent) snapshot(ctx context.Context, op *store.Operation, id, src int64) error {
	var s *store.Disk
	if err := a.st.Read(ctx, func(tx store.Tx) error {
		var err error
		s, err = tx.Disk(store.AllAccounts, src)
		return err
	}); err != nil {
		return fmt.Errorf("source disk %d: %w", src, err)
	}
	run := false
	if s.VMID != 0 {
		var err error
		if run, err = a.running(ctx, s.VMID); err != nil {
			return err
		}
	}
	if !run {
		ops.SetResult(op, ops.ResultConsistency, string(hypervisor.Offline))
		return a.vol.Snapshot(ctx, id, src)
	}
	hs, ok1 := a.hv.(hypervisor.DiskSnapshotter)
	ls, ok2 := a.vol.(volume.LiveSnapshotter)
	if !ok1 || !ok2 {
		ops.SetResult(op, ops.ResultConsistency, string(hypervisor.CrashConsistent))
		return a.vol.Snapshot(ctx, id, src)
	}
	return ls.SnapshotLive(ctx, id, src, func(ctx context.Context, target string) error {
		c, err := hs.SnapshotDisk(ctx, s.VMID, src, target)
		if err == nil {
			ops.SetResult(op, ops.ResultConsistency, string(c))
		}
		return err
	})
}
