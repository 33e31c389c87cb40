package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/hypervisor"
)

// Observation is the actual state of a VM, as the hypervisor sees it.
type Observation struct {
	VMID  int64
	State string // api.VMRunning or api.VMHalted
	// GuestAgent is GuestAgentUp or GuestAgentDown for a running VM, "" when not known.
	GuestAgent string
}

// Observe reports the actual state of the given VMs, and the VMs the hypervisor runs that
// are not among known (orphans: their record is gone).
func (a *Agent) Observe(ctx context.Context, vms []int64, known []int64) ([]Observation, []int64, error) {
	var obs []Observation
	for _, id := range vms {
		st, err := a.hv.State(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("state of vm %d: %w", id, err)
		}
		s := api.VMHalted
		if st == hypervisor.Running {
			s = api.VMRunning
		}
		obs = append(obs, Observation{VMID: id, State: s})
	}
	a.pingGuests(ctx, obs)
	all, err := a.hv.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	knownSet := make(map[int64]bool, len(known))
	for _, id := range known {
		knownSet[id] = true
	}
	var orphans []int64
	for _, id := range all {
		if !knownSet[id] {
			orphans = append(orphans, id)
		}
	}
	return obs, orphans, nil
}

// RemoveOrphan stops and removes a VM the store no longer knows (a vm_delete whose record
// went away while QEMU survived, for instance). Its disks are not touched.
func (a *Agent) RemoveOrphan(ctx context.Context, id int64) error {
	a.log.Warn("removing a vm the store does not know", "vm", id)
	if err := a.hv.Stop(ctx, id); err != nil {
		return err
	}
	if err := a.hv.Destroy(ctx, id); err != nil {
		return err
	}
	if a.seed != nil {
		return a.seed.Remove(ctx, id)
	}
	return nil
}

// pingTimeout bounds the guest agent pings of one Observe.
const pingTimeout = 4 * time.Second

// pingGuests fills GuestAgent of the running VMs of obs, pinging a few at a time.
func (a *Agent) pingGuests(ctx context.Context, obs []Observation) {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range obs {
		if obs[i].State != api.VMRunning {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(o *Observation) {
			defer func() { <-sem; wg.Done() }()
			o.GuestAgent = a.guestState(ctx, o.VMID)
		}(&obs[i])
	}
	wg.Wait()
}
