package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// HostMemoryMB reads MemTotal from /proc/meminfo, in MB.
func HostMemoryMB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

// reserve checks that the host has memory for VM vmID to run with mb, counting every other
// running VM's memory plus the per-VM overhead of its QEMU process. Callers hold a.capMu
// until the VM runs with that memory, so two starts cannot both take the last memory.
func (a *Agent) reserve(ctx context.Context, vmID, mb int64) error {
	if a.memMB <= 0 {
		return nil
	}
	var used int64
	err := a.st.Read(ctx, func(tx store.Tx) error {
		vms, err := tx.VMs(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
			{Field: "state", Op: api.OpIn, Values: []any{api.VMRunning}}, {Field: "host", Values: []any{a.host}}}})
		for _, v := range vms {
			if v.ID != vmID {
				used += v.Memory + a.overheadMB
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if need := mb + a.overheadMB; used+need > a.memMB {
		return api.Errorf(api.Unavailable, api.ObjVM, "not enough memory on the host for vm %d: it needs %d MB, %d of %d MB are reserved", vmID, need, used, a.memMB)
	}
	return nil
}
