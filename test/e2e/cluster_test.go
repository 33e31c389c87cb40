package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/berth-io/berth/client"
	"github.com/berth-io/berth/internal/store/storetest"
)

// TestCluster runs Berth scaled out on PostgreSQL: two API servers and two hypervisor
// agents (sim backend). VMs created through either API land on both hosts; an agent killed
// with SIGKILL mid-operation is marked down, its VMs' state becomes unknown and their new
// operations are refused, and when it comes back its operations finish, nothing duplicated;
// the whole Python client flow passes on the cluster.
func TestCluster(t *testing.T) {
	t.Parallel() // see TestMain
	db := storetest.PostgresURL(t)
	timing := []string{"--heartbeat", "300ms", "--host-timeout", "2s"}
	a1 := NewAgent(t, db, "h1", "FR-SD5", append([]string{"--sim-latency", "300ms"}, timing...)...)
	a2 := NewAgent(t, db, "h2", "FR-SD5", append([]string{"--sim-latency", "300ms"}, timing...)...)
	a1.Start()
	a2.Start()
	api1, api2 := NewBerthd(t, "sim", append([]string{"--role", "api"}, timing...)...), NewBerthd(t, "sim", append([]string{"--role", "api"}, timing...)...)
	api1.DB, api2.DB = db, db
	api1.Start()
	api2.Start()
	key := api1.Account("cluster", 100000)
	img := api1.MustCall("hosting.image.list", key, map[string]any{"datacenter_id": 1}).([]any)[0].(map[string]any)["disk_id"].(int64)

	// Six VMs through both API servers, at once.
	var vmOps []int64
	for i := range 6 {
		api := []*Berthd{api1, api2}[i%2]
		res := api.MustCall("hosting.vm.create_from", key, map[string]any{"datacenter_id": 1, "hostname": fmt.Sprintf("c%d", i), "memory": 256},
			map[string]any{}, img).([]any)
		for _, o := range res {
			vmOps = append(vmOps, o.(map[string]any)["id"].(int64))
		}
		if vm := res[2].(map[string]any)["vm_id"]; vm == nil {
			t.Fatalf("vm_create without vm_id: %v", res[2])
		}
	}
	for _, id := range vmOps {
		if op := api2.WaitOp(key, id, time.Minute); op["step"] != "DONE" {
			t.Fatalf("operation %d: %v %v", id, op["step"], op["last_error"])
		}
	}
	hosts := vmHosts(t, db)
	if hosts["h1"] == 0 || hosts["h2"] == 0 {
		t.Fatalf("vms per host %v: placement used one host only", hosts)
	}
	t.Logf("vms per host: %v", hosts)

	// Operations on h1's VMs, then SIGKILL h1 while they run.
	onH1 := vmsOn(t, db, "h1")
	var pending []int64
	for _, id := range onH1 {
		op := api1.MustCall("hosting.vm.update", key, id, map[string]any{"memory": 512}).(map[string]any)
		pending = append(pending, op["id"].(int64))
		op = api1.MustCall("hosting.vm.reboot", key, id).(map[string]any)
		pending = append(pending, op["id"].(int64))
	}
	time.Sleep(400 * time.Millisecond)
	a1.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		vm := api1.MustCall("hosting.vm.info", key, onH1[0]).(map[string]any)
		if vm["state"] == "unknown" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h1's vm is still %v after h1 died", vm["state"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := api2.Call("hosting.vm.stop", key, onH1[0]); !client.IsFault(err, 530141) {
		t.Fatalf("an operation on a down host's vm: %v, want fault 530141", err)
	}
	// h2's VMs work on.
	onH2 := vmsOn(t, db, "h2")
	op := api2.MustCall("hosting.vm.update", key, onH2[0], map[string]any{"cores": 2}).(map[string]any)
	if op := api2.WaitOp(key, op["id"].(int64), time.Minute); op["step"] != "DONE" {
		t.Fatalf("h2 while h1 is down: %v %v", op["step"], op["last_error"])
	}

	// h1 comes back: its operations finish, its VMs come back to their real state.
	a1.Start()
	for _, id := range pending {
		if op := api1.WaitOp(key, id, time.Minute); op["step"] != "DONE" {
			t.Errorf("operation %d after h1 came back: %v %v", id, op["step"], op["last_error"])
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for _, id := range onH1 {
		for {
			vm := api1.MustCall("hosting.vm.info", key, id).(map[string]any)
			if vm["state"] == "running" && vm["memory"].(int64) == 512 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("vm %d after h1 came back: %v, %v MB", id, vm["state"], vm["memory"])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if n := api2.MustCall("hosting.vm.count", key).(int64); n != 6 {
		t.Errorf("vm.count = %d, want 6", n)
	}
	if n := api2.MustCall("hosting.disk.count", key).(int64); n != 6 {
		t.Errorf("disk.count = %d, want 6", n)
	}

	// The single-node client flow, on the cluster.
	key2 := api2.Account("flow", 100000)
	out, err := exec.Command(needPython(t), "python/gandi_flow.py", api2.URL, key2).CombinedOutput()
	if err != nil {
		t.Fatalf("gandi_flow.py on the cluster: %v\n%s", err, out)
	}
}

func pgOpen(t *testing.T, db string) *sql.DB {
	t.Helper()
	c, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func vmHosts(t *testing.T, db string) map[string]int {
	rows, err := pgOpen(t, db).QueryContext(context.Background(), "SELECT host, COUNT(*) FROM vms GROUP BY host")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var h string
		var n int
		rows.Scan(&h, &n)
		out[h] = n
	}
	return out
}

func vmsOn(t *testing.T, db, host string) []int64 {
	rows, err := pgOpen(t, db).QueryContext(context.Background(), "SELECT id FROM vms WHERE host = $1 ORDER BY id", host)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out = append(out, id)
	}
	return out
}
