package service_test

import (
	"testing"

	"github.com/berth-io/berth/internal/store"
)

// TestHostList counts a host's VMs and what they take of its memory and disk.
func TestHostList(t *testing.T) {
	e := newEnv(t)
	before, err := e.svc.HostList(e.ctx)
	if err != nil || len(before) != 1 || before[0].Name != "local" || before[0].VMs != 0 || before[0].State != store.HostUp {
		t.Fatalf("HostList before = %+v, %v; want the local host, up, without VMs", before, err)
	}
	v := e.vm("h1")
	after, err := e.svc.HostList(e.ctx)
	if err != nil || len(after) != 1 {
		t.Fatalf("HostList = %+v, %v", after, err)
	}
	h := after[0]
	if h.VMs != 1 || h.MemFreeMB != before[0].MemFreeMB-v.VM.Memory || h.DiskFreeMB >= before[0].DiskFreeMB {
		t.Errorf("host after a %d MB VM: %+v (before: %+v)", v.VM.Memory, h, before[0])
	}
}
