package service

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Reconcilable returns the recorded state of the VMs whose actual state can be checked
// now (running, halted or unknown, with no operation pending: an operation in flight owns
// its VM's state), and the ids of every VM the store places on host. Two queries, whatever
// the number of VMs.
func (s *Service) Reconcilable(ctx context.Context, host string) (check map[int64]string, known []int64, err error) {
	err = s.read(ctx, func(tx store.Tx) error {
		states, err := tx.VMStates(host)
		if err != nil {
			return err
		}
		busy, err := tx.BusyVMs()
		if err != nil {
			return err
		}
		check = map[int64]string{}
		for id, st := range states {
			known = append(known, id)
			if (st == api.VMRunning || st == api.VMHalted || st == VMUnknown) && !busy[id] {
				check[id] = st
			}
		}
		return nil
	})
	return check, known, err
}

// Unknown returns those of ids that are no VM of host in the store now. Reconcile lists
// the hypervisor's VMs after reading the store: a VM created in between runs, yet was not
// among those known, so every orphan is checked again here, after the listing.
func (s *Service) Unknown(ctx context.Context, host string, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []int64
	err := s.read(ctx, func(tx store.Tx) error {
		states, err := tx.VMStates(host)
		if err != nil {
			return err
		}
		// A VM with an operation in flight is no orphan wherever it runs: the target of
		// a move holds its QEMU before the store records the VM there.
		busy, err := tx.BusyVMs()
		for _, id := range ids {
			if _, ok := states[id]; !ok && !busy[id] {
				out = append(out, id)
			}
		}
		return err
	})
	return out, err
}

// Observed records the actual state of a VM when it differs from the store's and no
// operation started on the VM meanwhile. It returns whether the state changed.
func (s *Service) Observed(ctx context.Context, vmID int64, state string) (bool, error) {
	changed := false
	err := s.st.Write(ctx, func(tx store.Tx) error {
		v, err := tx.VM(store.AllAccounts, vmID)
		if err != nil {
			return ignoreGone(err)
		}
		if v.State == state || (v.State != api.VMRunning && v.State != api.VMHalted && v.State != VMUnknown) {
			return nil
		}
		pending, err := tx.PendingBefore(&store.Operation{Operation: api.Operation{ID: 1 << 62, VMID: v.ID}})
		if err != nil || pending {
			return err
		}
		s.log.Warn("vm state differs from what the API last set: recording the actual state", "vm", v.ID, "recorded", v.State, "actual", state)
		v.State, v.Updated = state, s.now().UTC()
		changed = true
		return tx.UpdateVM(v)
	})
	if err != nil {
		return false, s.internal(err)
	}
	return changed, nil
}

// ObservedGuests records whether the guest agents of running VMs answer (vm.info's
// guest_agent), for the VMs whose recorded value differs (vm.info ignores it while the
// VM is not running). One transaction.
func (s *Service) ObservedGuests(ctx context.Context, agents map[int64]string) error {
	if len(agents) == 0 {
		return nil
	}
	err := s.st.Write(ctx, func(tx store.Tx) error {
		for id, st := range agents {
			v, err := tx.VM(store.AllAccounts, id)
			if err != nil {
				if err := ignoreGone(err); err != nil {
					return err
				}
				continue
			}
			if v.GuestAgent == st {
				continue
			}
			v.GuestAgent = st
			if err := tx.UpdateVM(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.internal(err)
	}
	return nil
}
