package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestKillDuringOperations kills berthd with SIGKILL while 20 operations are in flight,
// restarts it, and checks that every operation ends (DONE or ERROR) and that no object is
// lost or duplicated.
func TestKillDuringOperations(t *testing.T) {
	t.Parallel() // see TestMain
	b := NewBerthd(t, "sim", "--sim-latency", "400ms")
	b.Start()
	key := b.Account("crash", 100000)
	img := b.MustCall("hosting.image.list", key, map[string]any{"datacenter_id": 1}).([]any)[0].(map[string]any)
	src := img["disk_id"].(int64)

	// 5 × vm.create_from (3 operations each) + 5 × disk.create = 20 operations.
	start := time.Now()
	var mu sync.Mutex
	var opIDs []int64
	var vmIDs, diskIDs []int64
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 5 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := b.Call("hosting.vm.create_from", key,
				map[string]any{"datacenter_id": 1, "hostname": fmt.Sprintf("crash%d", i), "memory": 256},
				map[string]any{"name": fmt.Sprintf("sys%d", i)}, src)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, o := range res.([]any) {
				op := o.(map[string]any)
				opIDs = append(opIDs, op["id"].(int64))
				if op["type"] == "vm_create" {
					vmIDs = append(vmIDs, op["vm_id"].(int64))
				}
			}
		}()
		go func() {
			defer wg.Done()
			res, err := b.Call("hosting.disk.create", key, map[string]any{"datacenter_id": 1, "size": 1024, "name": fmt.Sprintf("data%d", i)})
			if err != nil {
				errs <- err
				return
			}
			op := res.(map[string]any)
			mu.Lock()
			defer mu.Unlock()
			opIDs = append(opIDs, op["id"].(int64))
			diskIDs = append(diskIDs, op["disk_id"].(int64))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(opIDs) != 20 {
		t.Fatalf("got %d operations, want 20", len(opIDs))
	}
	// Let some operations reach RUN, then kill. operation.list does not wait like
	// operation.info does.
	deadline := time.Now().Add(10 * time.Second)
	for len(b.MustCall("operation.list", key, map[string]any{"step": "RUN"}).([]any)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no operation reached RUN")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pending := len(b.MustCall("operation.list", key, map[string]any{"step": []any{"BILL", "WAIT", "RUN"}}).([]any))
	b.Kill()
	if pending < 5 {
		t.Logf("only %d operations were pending at the kill", pending)
	}
	t.Logf("%d of 20 operations pending when berthd was killed (%s after the first call)", pending, time.Since(start).Round(time.Millisecond))

	b.Start()
	restarted := time.Now()
	defer func() {
		t.Logf("operations finished %s after the restart", time.Since(restarted).Round(time.Millisecond))
		if t.Failed() {
			t.Logf("berthd log:\n%s", b.Stderr())
		}
	}()
	for _, id := range opIDs {
		op := b.WaitOp(key, id, 2*time.Minute)
		if op["step"] != "DONE" {
			t.Errorf("operation %d (%v) ended %v: %v", id, op["type"], op["step"], op["last_error"])
		}
	}
	// Nothing lost, nothing duplicated.
	if n := b.MustCall("hosting.vm.count", key).(int64); n != 5 {
		t.Errorf("vm.count = %d, want 5", n)
	}
	if n := b.MustCall("hosting.disk.count", key).(int64); n != 10 {
		t.Errorf("disk.count = %d, want 10", n)
	}
	if n := b.MustCall("hosting.iface.count", key).(int64); n != 5 {
		t.Errorf("iface.count = %d, want 5", n)
	}
	ips := b.MustCall("hosting.ip.list", key, map[string]any{"items_per_page": 500}).([]any)
	seen := map[string]bool{}
	for _, x := range ips {
		ip := x.(map[string]any)
		addr := ip["ip"].(string)
		if seen[addr] {
			t.Errorf("address %s handed out twice", addr)
		}
		seen[addr] = true
		if ip["state"] != "created" {
			t.Errorf("ip %s is %v", addr, ip["state"])
		}
	}
	if len(ips) != 10 {
		t.Errorf("%d addresses, want 10 (IPv4 + IPv6 for 5 ifaces)", len(ips))
	}
	for _, id := range vmIDs {
		vm := b.MustCall("hosting.vm.info", key, id).(map[string]any)
		if vm["state"] != "running" || len(vm["disks"].([]any)) != 1 || len(vm["ifaces"].([]any)) != 1 {
			t.Errorf("vm %d: state %v, %d disks, %d ifaces", id, vm["state"], len(vm["disks"].([]any)), len(vm["ifaces"].([]any)))
		}
	}
	for _, id := range diskIDs {
		d := b.MustCall("hosting.disk.info", key, id).(map[string]any)
		if d["state"] != "created" {
			t.Errorf("disk %d is %v", id, d["state"])
		}
	}
}
