// Package placement chooses the hypervisor host of a new VM: a pure function over a
// snapshot of the hosts.
package placement

import (
	"errors"
	"fmt"
	"sort"
)

// ErrNoHost is returned when no host of the datacenter can take the VM.
var ErrNoHost = errors.New("no host has room")

// Host is one hypervisor host as placement sees it.
type Host struct {
	Name         string
	DatacenterID int64
	Up           bool
	MemFreeMB    int64 // memory not reserved by VMs
	DiskFreeMB   int64
	VMs          int
}

// Request is what the new VM needs.
type Request struct {
	DatacenterID int64
	MemoryMB     int64
	DiskMB       int64
}

// Choose returns the host for a VM: an up host of its datacenter with enough free memory
// and disk; among them the one with the most free memory (VMs spread out, and the host
// keeps the most room to grow them), then the fewest VMs, then by name, so the choice is
// deterministic.
func Choose(hosts []Host, r Request) (string, error) {
	var fit []Host
	down := 0
	for _, h := range hosts {
		if h.DatacenterID != r.DatacenterID {
			continue
		}
		if !h.Up {
			down++
			continue
		}
		if h.MemFreeMB >= r.MemoryMB && h.DiskFreeMB >= r.DiskMB {
			fit = append(fit, h)
		}
	}
	if len(fit) == 0 {
		return "", fmt.Errorf("datacenter %d: %d MB of memory and %d MB of disk wanted, %d hosts down: %w", r.DatacenterID, r.MemoryMB, r.DiskMB, down, ErrNoHost)
	}
	sort.Slice(fit, func(i, j int) bool {
		a, b := fit[i], fit[j]
		if a.MemFreeMB != b.MemFreeMB {
			return a.MemFreeMB > b.MemFreeMB
		}
		if a.VMs != b.VMs {
			return a.VMs < b.VMs
		}
		return a.Name < b.Name
	})
	return fit[0].Name, nil
}
