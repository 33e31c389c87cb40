package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/placement"
	"github.com/berth-io/berth/internal/store"
)

// ControlQueue is the River queue of operations that need no particular host (addresses,
// VLAN records, credits): every agent works it.
const ControlQueue = "control"

// HostQueue is the River queue of one hypervisor host.
func HostQueue(host string) string { return "host-" + host }

// VMUnknown is the state of a VM whose host stopped answering: it may run or not.
const VMUnknown = "unknown"

// RegisterHost records a hypervisor host (at each start of its agent) as up.
func (s *Service) RegisterHost(ctx context.Context, h store.Host) error {
	now := s.now().UTC()
	h.State, h.Heartbeat, h.Started = store.HostUp, now, now
	return s.st.Write(ctx, func(tx store.Tx) error { return tx.SaveHost(&h) })
}

// Heartbeat records that a host is alive.
func (s *Service) Heartbeat(ctx context.Context, name string) error {
	return s.st.Write(ctx, func(tx store.Tx) error {
		ok, err := tx.Heartbeat(name, s.now().UTC())
		if err == nil && !ok {
			err = fmt.Errorf("host %s is not registered", name)
		}
		return err
	})
}

// CheckHosts marks down the hosts silent for longer than timeout; self, the host this
// process runs (or ""), is alive by definition and beats first, so that a slow heartbeat
// on a loaded machine never marks its own checker down. Their VMs' state becomes
// unknown (not halted: they may well run) until their host is back and reconciles them.
func (s *Service) CheckHosts(ctx context.Context, timeout time.Duration, self string) ([]string, error) {
	var down []string
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if self != "" {
			if _, err := tx.Heartbeat(self, s.now().UTC()); err != nil {
				return err
			}
		}
		var err error
		if down, err = tx.MarkDown(s.now().UTC().Add(-timeout)); err != nil || len(down) == 0 {
			return err
		}
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{{Field: "host", Op: api.OpIn, Values: strs(down)}}})
		if err != nil {
			return err
		}
		for _, v := range vms {
			if v.State == api.VMRunning || v.State == api.VMHalted {
				v.State, v.Updated = VMUnknown, s.now().UTC()
				if err := tx.UpdateVM(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, h := range down {
		s.log.Warn("host missed its heartbeats: marked down, its vms' state is unknown", "host", h)
	}
	return down, err
}

func strs(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// place chooses the host of a new VM or disk in a datacenter.
func (s *Service) place(tx store.Tx, dc, memMB, diskMB int64) (string, error) {
	snap, err := hostSnapshot(tx, dc)
	if err != nil {
		return "", err
	}
	return choose(snap, placement.Request{DatacenterID: dc, MemoryMB: memMB, DiskMB: diskMB})
}

// hostSnapshot is placement's view of the hosts: free memory and disk, and whether each
// takes new VMs (up, and not draining). The all-in-one host serves datacenter dc.
func hostSnapshot(tx store.Tx, dc int64) ([]placement.Host, error) {
	hosts, err := tx.Hosts()
	if err != nil {
		return nil, err
	}
	load, err := tx.HostLoad()
	if err != nil {
		return nil, err
	}
	var snap []placement.Host
	for _, h := range hosts {
		hdc := h.DatacenterID
		if hdc == 0 {
			hdc = dc // the all-in-one host serves every datacenter
		}
		l := load[h.Name]
		snap = append(snap, placement.Host{Name: h.Name, DatacenterID: hdc, Up: h.State == store.HostUp && !h.Draining,
			MemFreeMB: h.MemoryMB - l[0], DiskFreeMB: h.DiskMB - l[1]})
	}
	return snap, nil
}

// choose runs placement, with its refusal as a fault.
func choose(snap []placement.Host, r placement.Request) (string, error) {
	name, err := placement.Choose(snap, r)
	if errors.Is(err, placement.ErrNoHost) {
		return "", api.Errorf(api.Unavailable, api.ObjDatacenter, "no host of datacenter %d has room for %d MB of memory and %d MB of disk", r.DatacenterID, r.MemoryMB, r.DiskMB)
	}
	return name, err
}

// hostUp checks that the host of an object answers, so its operations can run.
func hostUp(tx store.Tx, host string, obj api.Object, id int64) error {
	if host == "" {
		return nil
	}
	hosts, err := tx.Hosts()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Name == host {
			if h.State != store.HostUp {
				return api.Errorf(api.Unavailable, obj, "%s %d is on host %s, which is down: try again when it is back", obj, id, host)
			}
			return nil
		}
	}
	return api.Errorf(api.Unavailable, obj, "%s %d is on host %s, which is not registered", obj, id, host)
}

// onHost routes an operation to the queue of a host, after checking the host is up.
func onHost(tx store.Tx, op *store.Operation, host string, obj api.Object, id int64) error {
	if host == "" {
		return nil
	}
	if err := hostUp(tx, host, obj, id); err != nil {
		return err
	}
	op.Queue = HostQueue(host)
	return nil
}

// emptyDiskHost is where a new empty disk lives: on a datacenter with one host, that host;
// with several, none yet: the disk is created on the host of the first VM it is attached
// to (until then it holds nothing, so there is nothing to keep anywhere).
func (s *Service) emptyDiskHost(tx store.Tx, dc, sizeMB int64) (string, error) {
	hosts, err := tx.Hosts()
	if err != nil {
		return "", err
	}
	n := 0
	for _, h := range hosts {
		if h.State == store.HostUp && (h.DatacenterID == dc || h.DatacenterID == 0) {
			n++
		}
	}
	if n > 1 {
		return "", nil
	}
	return s.place(tx, dc, 0, sizeMB)
}
