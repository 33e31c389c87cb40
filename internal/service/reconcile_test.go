package service_test

import (
	"slices"
	"testing"
)

// TestUnknown: the reconciler's second look at orphans keeps only the VMs the store does
// not place on the host now (a VM created between its store read and its hypervisor listing
// was removed as an orphan under load, seen in TestClusterQEMU).
func TestUnknown(t *testing.T) {
	e := newEnv(t)
	id := e.vm("known1").VM.ID
	got, err := e.svc.Unknown(e.ctx, "local", []int64{id, 999})
	if err != nil || !slices.Equal(got, []int64{999}) {
		t.Errorf("Unknown(local, [%d 999]) = %v, %v; want [999]", id, got, err)
	}
	if got, err := e.svc.Unknown(e.ctx, "other", []int64{id}); err != nil || !slices.Equal(got, []int64{id}) {
		t.Errorf("Unknown(other, [%d]) = %v, %v", id, got, err)
	}
}
