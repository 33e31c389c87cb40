package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/internal/store"
)

// testVMSamples checks the VM sample log: samples come back by VM then time within
// (after, upto], NULL usages stay nil, a second sample at the same time is dropped, and
// pruning removes the old ones.
func testVMSamples(t *testing.T, st store.Store) {
	log, ok := st.(store.VMSampleLog)
	if !ok {
		t.Fatal("the store does not implement store.VMSampleLog")
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	sample := func(vm int64, min int, pub *store.NetUsage) store.VMSample {
		return store.VMSample{VMID: vm, Time: t0.Add(time.Duration(min) * time.Minute), Interval: time.Minute, Host: "h1",
			CPU: 1500 * time.Millisecond, MemoryBytes: 256 << 20, RSSBytes: 100 << 20, DiskReadBytes: int64(min) << 20,
			DiskWriteBytes: 4096, DiskReads: 3, DiskWrites: 1, Public: pub}
	}
	pub := &store.NetUsage{RxBytes: 1500, TxBytes: 500, RxPackets: 2, TxPackets: 1}
	in := []store.VMSample{sample(2, 1, nil), sample(1, 2, pub), sample(1, 1, pub), sample(1, 3, nil), sample(3, 1, pub)}
	in[0].Private = &store.NetUsage{RxBytes: 7}
	if err := log.InsertVMSamples(ctx, in); err != nil {
		t.Fatal(err)
	}
	dup := sample(1, 2, nil)
	dup.CPU = time.Hour
	if err := log.InsertVMSamples(ctx, []store.VMSample{dup}); err != nil {
		t.Fatalf("a second sample at the same time: %v", err)
	}
	got, err := log.VMSamples(ctx, []int64{1, 2}, t0, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]store.VMSample{in[2], in[1], in[0]}, got); d != "" {
		t.Errorf("VMSamples(1 and 2, (0, 2m]) (-want +got):\n%s", d)
	}
	if n, err := log.PruneVMSamples(ctx, t0.Add(2*time.Minute)); err != nil || n != 3 {
		t.Errorf("PruneVMSamples = %d, %v; want 3", n, err)
	}
	if got, err := log.VMSamples(ctx, []int64{1, 2, 3}, t0, t0.Add(time.Hour)); err != nil || len(got) != 2 {
		t.Errorf("after prune: %d samples, %v; want 2", len(got), err)
	}
}
