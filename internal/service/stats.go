package service

import (
	"context"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Stats is what /metrics reports from the store: the same rows every API server sees.
type Stats struct {
	VMs           map[VMKey]int64 // VMs by state and datacenter id
	Operations    map[OpKey]int64 // operations not finished, by type and step
	OldestWaiting map[string]time.Duration
	Hosts         []HostStat
}

// VMKey groups VMs.
type VMKey struct {
	State        string
	DatacenterID int64
}

// OpKey groups operations.
type OpKey struct{ Type, Step string }

// HostStat is one host's liveness.
type HostStat struct {
	Name         string
	DatacenterID int64
	Up           bool
	HeartbeatAge time.Duration
	MemoryMB     int64
}

// Stats reads the counts of every account's VMs and pending operations, and the hosts.
func (s *Service) Stats(ctx context.Context) (*Stats, error) {
	st := &Stats{VMs: map[VMKey]int64{}, Operations: map[OpKey]int64{}, OldestWaiting: map[string]time.Duration{}}
	now := s.now()
	err := s.read(ctx, func(tx store.Tx) error {
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts})
		if err != nil {
			return err
		}
		for _, v := range vms {
			st.VMs[VMKey{v.State, v.DatacenterID}]++
		}
		pending, err := tx.Operations(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
			{Field: "step", Op: api.OpIn, Values: []any{api.StepBill, api.StepWait, api.StepRun}}}})
		if err != nil {
			return err
		}
		for _, o := range pending {
			st.Operations[OpKey{o.Type, o.Step}]++
			if o.Step == api.StepWait {
				if age := now.Sub(o.Created); age > st.OldestWaiting[o.Queue] {
					st.OldestWaiting[o.Queue] = age
				}
			}
		}
		hosts, err := tx.Hosts()
		for _, h := range hosts {
			st.Hosts = append(st.Hosts, HostStat{Name: h.Name, DatacenterID: h.DatacenterID, Up: h.State == store.HostUp, HeartbeatAge: now.Sub(h.Heartbeat), MemoryMB: h.MemoryMB})
		}
		return err
	})
	return st, err
}
