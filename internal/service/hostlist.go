package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/store"
)

// HostInfo is a host as `berthd admin host list` shows it.
type HostInfo struct {
	Name         string
	DatacenterID int64 // 0: every datacenter (the all-in-one host)
	State        string
	VMs          int64
	MemoryMB     int64
	MemFreeMB    int64 // memory not promised to its VMs
	DiskMB       int64
	DiskFreeMB   int64 // disk not taken by its disks (images aside)
	Heartbeat    time.Time
	Draining     bool // takes no new VM; its VMs move away
}

// HostList returns every host with its state, VMs and free capacity, by name.
func (s *Service) HostList(ctx context.Context) ([]HostInfo, error) {
	var out []HostInfo
	err := s.st.Read(ctx, func(tx store.Tx) error {
		hosts, err := tx.Hosts()
		if err != nil {
			return err
		}
		load, err := tx.HostLoad()
		if err != nil {
			return err
		}
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts})
		if err != nil {
			return err
		}
		count := map[string]int64{}
		for _, v := range vms {
			count[v.Host]++
		}
		for _, h := range hosts {
			l := load[h.Name]
			out = append(out, HostInfo{
				Name: h.Name, DatacenterID: h.DatacenterID, State: h.State, VMs: count[h.Name],
				MemoryMB: h.MemoryMB, MemFreeMB: h.MemoryMB - l[0], DiskMB: h.DiskMB, DiskFreeMB: h.DiskMB - l[1],
				Heartbeat: h.Heartbeat, Draining: h.Draining,
			})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b HostInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}
