package gandi

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// asWire is a shape as a map (members or a map).
func asWire(shape any) wire {
	switch x := shape.(type) {
	case wire:
		return x
	case members:
		w := wire{}
		for _, m := range x {
			w[m.Name] = m.Value
		}
		return w
	}
	return nil
}

// checkOrdered fails unless every members struct in v, at any depth, is in strict name
// order: encoded, it is then byte for byte what the same map gives.
func checkOrdered(t *testing.T, where string, v any) {
	t.Helper()
	switch x := v.(type) {
	case members:
		if !slices.IsSortedFunc(x, func(a, b xmlrpc.Member) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("%s: members not in name order: %v", where, names(x))
		}
		for i := 1; i < len(x); i++ {
			if x[i].Name == x[i-1].Name {
				t.Errorf("%s: member %s twice", where, x[i].Name)
			}
		}
		for _, m := range x {
			checkOrdered(t, where+"."+m.Name, m.Value)
		}
	case []any:
		for _, el := range x {
			checkOrdered(t, where+"[]", el)
		}
	case wire:
		for k, el := range x {
			checkOrdered(t, where+"."+k, el)
		}
	}
}

func names(m members) []string {
	var out []string
	for _, x := range m {
		out = append(out, x.Name)
	}
	return out
}

func TestOrderedShapes(t *testing.T) {
	now := time.Date(2018, 5, 18, 17, 11, 14, 0, time.UTC)
	g := &gandi{svc: service.New(nil, &service.Catalog{}, service.Config{}, nil)}
	d := &service.VMDetail{
		VM:    api.VM{ID: 1, DisksID: []int64{2}, IfacesID: []int64{3}, Created: now, Updated: now, State: api.VMRunning},
		Disks: []api.Disk{{ID: 2, VMID: 1, SnapshotProfileID: 1, KernelCmdline: "root=/dev/vda ro"}},
		Ifaces: []service.IfaceDetail{{Iface: api.Iface{ID: 3, VLAN: &api.VLANRef{ID: 4, Name: "v"}},
			IPs: []api.IP{{ID: 5, State: api.StateBeingCreated, Type: "public"}}}},
	}
	info := g.vmInfoWire(d)
	checkOrdered(t, "vm.info", info)
	w := asWire(info)
	if _, ok := w["datacenter"]; ok {
		t.Errorf("vm.info has a nested datacenter (D4 as corrected)")
	}
	for _, k := range []string{"datacenter_id", "disks", "ifaces", "console_url", "hvm_state", "graph_urls"} {
		if _, ok := w[k]; !ok {
			t.Errorf("vm.info has no %s", k)
		}
	}
	ip := asWire(asWire(asWire(w["ifaces"].([]any)[0])["ips"].([]any)[0]))
	if ip["reverse"] != nil {
		t.Errorf("a public IP being created has reverse %v, want nil", ip["reverse"])
	}
	checkOrdered(t, "vm.list", vmWire(d.VM))
	checkOrdered(t, "disk.list", diskWire(d.Disks[0]))
	checkOrdered(t, "iface.list", ifaceWire(d.Ifaces[0].Iface))
	checkOrdered(t, "ip.list", ipWire(d.Ifaces[0].IPs[0]))
	if got := names(merge(members{mb("a", 1), mb("c", 3)}, members{mb("b", 2), mb("d", 4)})); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("merge: %v", got)
	}
}
