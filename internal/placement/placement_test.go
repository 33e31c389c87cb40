package placement

import (
	"errors"
	"testing"
)

func TestChoose(t *testing.T) {
	h := func(name string, dc int64, up bool, mem, disk int64, vms int) Host {
		return Host{Name: name, DatacenterID: dc, Up: up, MemFreeMB: mem, DiskFreeMB: disk, VMs: vms}
	}
	for _, tc := range []struct {
		name  string
		hosts []Host
		req   Request
		want  string
		err   error
	}{
		{"most free memory", []Host{h("a", 1, true, 1000, 1e6, 0), h("b", 1, true, 4000, 1e6, 3)}, Request{1, 512, 3072}, "b", nil},
		{"other datacenter ignored", []Host{h("a", 1, true, 1000, 1e6, 0), h("b", 2, true, 9000, 1e6, 0)}, Request{1, 512, 3072}, "a", nil},
		{"down host ignored", []Host{h("a", 1, true, 1000, 1e6, 0), h("b", 1, false, 9000, 1e6, 0)}, Request{1, 512, 3072}, "a", nil},
		{"not enough memory", []Host{h("a", 1, true, 256, 1e6, 0)}, Request{1, 512, 3072}, "", ErrNoHost},
		{"not enough disk", []Host{h("a", 1, true, 4096, 1024, 0)}, Request{1, 512, 3072}, "", ErrNoHost},
		{"exact fit", []Host{h("a", 1, true, 512, 3072, 0)}, Request{1, 512, 3072}, "a", nil},
		{"tie: fewest vms", []Host{h("a", 1, true, 2000, 1e6, 5), h("b", 1, true, 2000, 1e6, 2)}, Request{1, 512, 0}, "b", nil},
		{"tie: name", []Host{h("b", 1, true, 2000, 1e6, 2), h("a", 1, true, 2000, 1e6, 2)}, Request{1, 512, 0}, "a", nil},
		{"no host", nil, Request{1, 512, 0}, "", ErrNoHost},
		{"all down", []Host{h("a", 1, false, 9000, 1e6, 0)}, Request{1, 512, 0}, "", ErrNoHost},
	} {
		got, err := Choose(tc.hosts, tc.req)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: Choose = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
