package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/store/storetest"
)

// TestClusterQEMU runs the scale-out deployment with real VMs: PostgreSQL, two API servers
// and two agents on the qemu backend, each agent with its own state directory and its own
// datacenter namespace. VMs created through either API land on both hosts and boot; an
// agent killed with SIGKILL while its VM's operation is queued finishes it when it is back,
// its VM still running.
func TestClusterQEMU(t *testing.T) {
	images := needVMs(t)
	db := storetest.PostgresURL(t)
	timing := []string{"--heartbeat", "300ms", "--host-timeout", "2s"}
	var agents []*Berthd
	var prefixes []string
	for _, h := range []string{"q1", "q2"} {
		prefix := fmt.Sprintf("%s-%s-", runPrefix(), h)
		prefixes = append(prefixes, prefix)
		a := NewAgent(t, db, h, "FR-SD5", append([]string{"--images", images, "--netns-prefix", prefix}, timing...)...)
		a.Backend = "qemu"
		agents = append(agents, a)
	}
	t.Cleanup(func() {
		for i, a := range agents {
			if t.Failed() {
				t.Logf("agent q%d's log (tail):\n%s", i+1, lastLines(a.Stderr(), 40))
			}
			killQEMUs(t, a.Data)
			if err := linux.Cleanup(prefixes[i]); err != nil {
				t.Errorf("cleanup %s: %v", prefixes[i], err)
			}
		}
	})
	for _, a := range agents {
		a.Start()
	}
	var apis []*Berthd
	for range 2 {
		api := NewBerthd(t, "qemu", append([]string{"--role", "api", "--images", images}, timing...)...)
		api.DB = db
		api.Start()
		apis = append(apis, api)
	}
	key := apis[0].Account("qcluster", 100000)
	var img int64
	for _, x := range apis[0].MustCall("hosting.image.list", key, map[string]any{"datacenter_id": 1, "label": "Berth Tiny"}).([]any) {
		img = x.(map[string]any)["disk_id"].(int64)
	}
	var vms []int64
	for i := range 4 {
		res := apis[i%2].MustCall("hosting.vm.create_from", key, map[string]any{"datacenter_id": 1, "hostname": fmt.Sprintf("q%d", i), "memory": 256},
			map[string]any{}, img).([]any)
		for _, o := range res {
			if op := apis[1].WaitOp(key, o.(map[string]any)["id"].(int64), 2*time.Minute); op["step"] != "DONE" {
				t.Fatalf("vm %d: %v %v", i, op["step"], op["last_error"])
			}
		}
		vms = append(vms, res[2].(map[string]any)["vm_id"].(int64))
	}
	// Each VM boots on its host: its QEMU state is in that agent's data directory, its tap
	// in that agent's namespace.
	hosts := vmHosts(t, db)
	if hosts["q1"] == 0 || hosts["q2"] == 0 {
		t.Fatalf("vms per host %v", hosts)
	}
	for i, h := range []string{"q1", "q2"} {
		for _, id := range vmsOn(t, db, h) {
			log := filepath.Join(agents[i].Data, "vms", fmt.Sprint(id), "console.log")
			pollUntil(t, bootTimeout, fmt.Sprintf("vm %d boots on %s", id, h), func() string {
				b, _ := os.ReadFile(log)
				if bytes.Contains(b, []byte("BERTH-BOOTED")) {
					return ""
				}
				return "not yet"
			})
			if _, err := os.Stat(filepath.Join("/run/netns", prefixes[i]+"fr-sd5")); err != nil {
				t.Errorf("host %s has no namespace %sfr-sd5: %v", h, prefixes[i], err)
			}
		}
	}
	// Kill q1 with an operation of its VM queued, bring it back: the operation finishes.
	onQ1 := vmsOn(t, db, "q1")[0]
	agents[0].Kill()
	op := apis[0].MustCall("hosting.vm.update", key, onQ1, map[string]any{"cores": 2}).(map[string]any)
	time.Sleep(500 * time.Millisecond)
	agents[0].Start()
	if done := apis[0].WaitOp(key, op["id"].(int64), 2*time.Minute); done["step"] != "DONE" {
		t.Fatalf("update after q1 came back: %v %v", done["step"], done["last_error"])
	}
	pollUntil(t, 30*time.Second, "q1's vm is running again", func() string {
		vm := apis[1].MustCall("hosting.vm.info", key, onQ1).(map[string]any)
		if vm["state"] == "running" && vm["cores"] == int64(2) {
			return ""
		}
		return fmt.Sprintf("%v, %v cores", vm["state"], vm["cores"])
	})
	for _, id := range vms {
		apis[0].WaitOp(key, apis[0].MustCall("hosting.vm.stop", key, id).(map[string]any)["id"].(int64), 2*time.Minute)
		apis[0].WaitOp(key, apis[0].MustCall("hosting.vm.delete", key, id).(map[string]any)["id"].(int64), 2*time.Minute)
	}
}

// killQEMUs kills every QEMU process of a data directory.
func killQEMUs(t *testing.T, data string) {
	for _, pid := range pgrepF(t, data) {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}
