package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// TestVMMetrics runs a VM on the sim backend with fast sampling and checks that its
// counters reach /metrics and hosting.metric.query (the shape gandi.cli reads), and that
// a bad query is a metric fault.
func TestVMMetrics(t *testing.T) {
	t.Parallel() // see TestMain
	b := NewBerthd(t, "sim", "--stats-every", "200ms", "--stats-store-every", "1s")
	b.Start()
	key := b.Account("METRICS-BERTH", 100000)
	img := asMap(t, asList(t, b.MustCall("hosting.image.list", key, map[string]any{"datacenter_id": 1}))[0])
	ops := asList(t, b.MustCall("hosting.vm.create_from", key,
		map[string]any{"datacenter_id": 1, "hostname": "statsvm", "memory": 256, "ip_version": 4, "password": "stats-pw-123"},
		map[string]any{"name": "statssys"}, img["disk_id"]))
	var vm int64
	for _, o := range ops {
		op := asMap(t, o)
		if done := b.WaitOp(key, asID(t, op["id"]), 30*time.Second); done["step"] != "DONE" {
			t.Fatalf("create_from: %v", done)
		}
		if id, ok := op["vm_id"].(int64); ok {
			vm = id
		}
	}

	var text string
	series := regexp.MustCompile(fmt.Sprintf(`(?m)^berth_vm_network_receive_bytes_total\{host="local",iface_id="\d+",type="public",vm_id="%d"\} [1-9]`, vm))
	pollUntil(t, 10*time.Second, "/metrics shows the vm's tap counters", func() string {
		resp, err := http.Get("http://" + b.Addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if text = string(raw); !series.MatchString(text) {
			return "no berth_vm_network_receive_bytes_total for the vm"
		}
		return ""
	})
	for _, want := range []string{fmt.Sprintf(`berth_vm_cpu_seconds_total{host="local",vm_id="%d"}`, vm),
		fmt.Sprintf(`berth_vm_memory_bytes{host="local",vm_id="%d"} 2.68435456e+08`, vm), `berth_vm_disk_read_bytes_total{disk_id="`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	now := time.Now().UTC()
	q := map[string]any{"start": now.Add(-time.Hour).Format(time.DateTime), "end": now.Add(time.Hour).Format(time.DateTime),
		"query": "vif.bytes.all", "resource_id": []any{vm}, "resource_type": "vm", "sampler": map[string]any{"unit": "hours", "value": 1, "function": "sum"}}
	var got []any
	pollUntil(t, 10*time.Second, "hosting.metric.query has traffic", func() string {
		got = asList(t, b.MustCall("hosting.metric.query", key, q))
		for _, s := range got {
			for _, p := range asList(t, asMap(t, s)["points"]) {
				if v, ok := asMap(t, p)["value"].(float64); ok && v > 0 {
					return ""
				}
			}
		}
		return fmt.Sprintf("%v", got)
	})
	if len(got) != 2 {
		t.Fatalf("vif.bytes.all: %d series, want in and out: %v", len(got), got)
	}
	for i, dir := range []string{"in", "out"} {
		s := asMap(t, got[i])
		if s["metric"] != "vif.bytes" || s["resource_id"] != vm || s["resource_type"] != "vm" ||
			fmt.Sprint(s["direction"]) != "["+dir+"]" || fmt.Sprint(s["type"]) != "[public]" {
			t.Errorf("series %d: %v", i, s)
		}
		for _, p := range asList(t, s["points"]) {
			if ts, ok := asMap(t, p)["timestamp"].(string); !ok || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:00:00$`).MatchString(ts) {
				t.Errorf("point timestamp %v, want a string YYYY-MM-DDTHH:00:00", asMap(t, p)["timestamp"])
			}
		}
	}
	q["query"] = "vfs.df.bytes.all"
	_, err := b.Call("hosting.metric.query", key, q)
	if f := (*xmlrpc.Fault)(nil); !errors.As(err, &f) || f.Code != 531437 {
		t.Errorf("an unsupported query: %v, want fault 531437", err)
	}
}
