package server

import "context"

// reconcile compares what the hypervisor runs with what the store says: a VM whose QEMU
// died (guest crash, OOM kill) is recorded as halted, a QEMU whose VM record is gone is
// removed. It runs at start and then every interval.
func (d *Daemon) reconcile(ctx context.Context) error {
	check, known, err := d.svc.Reconcilable(ctx, d.opt.Host)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(check))
	for id := range check {
		ids = append(ids, id)
	}
	obs, orphans, err := d.agent.Observe(ctx, ids, known)
	if err != nil {
		return err
	}
	agents := map[int64]string{}
	for _, o := range obs {
		if o.GuestAgent != "" {
			agents[o.VMID] = o.GuestAgent
		}
	}
	if err := d.svc.ObservedGuests(ctx, agents); err != nil {
		return err
	}
	for _, o := range obs {
		if o.State == check[o.VMID] {
			continue
		}
		if _, err := d.svc.Observed(ctx, o.VMID, o.State); err != nil {
			return err
		}
	}
	if orphans, err = d.svc.Unknown(ctx, d.opt.Host, orphans); err != nil {
		return err
	}
	for _, id := range orphans {
		if err := d.agent.RemoveOrphan(ctx, id); err != nil {
			d.log.Error("remove orphan vm", "vm", id, "err", err)
		}
	}
	if d.opt.Role == RoleAgent {
		return d.agent.SweepMoved(ctx)
	}
	return nil
}
