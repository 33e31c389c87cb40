//go:build linux

package linux

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/berth-io/berth/internal/netdev"
)

func TestLimitFor(t *testing.T) {
	tests := []struct {
		kbit    float64
		want    limit
		wantErr bool
	}{
		{kbit: 0, want: limit{}},
		{kbit: 32, want: limit{rate: 4000, burst: 128 << 10}},
		{kbit: 1000, want: limit{rate: 125000, burst: 128 << 10}},
		{kbit: 102400, want: limit{rate: 12800000, burst: 256000}}, // Gandi's default 100 Mbit/s
		{kbit: 1500.5, want: limit{rate: 187563, burst: 128 << 10}},
		{kbit: MaxBandwidth, want: limit{rate: 12_500_000_000, burst: 250_000_000}},
		{kbit: 31.9, wantErr: true},
		{kbit: MaxBandwidth + 1, wantErr: true},
		{kbit: -1, wantErr: true},
	}
	for _, tt := range tests {
		got, err := limitFor(tt.kbit)
		if (err != nil) != tt.wantErr {
			t.Errorf("limitFor(%v) error %v, want error %v", tt.kbit, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("limitFor(%v) = %+v, want %+v", tt.kbit, got, tt.want)
		}
		if tt.wantErr || got.rate == 0 {
			continue
		}
		// The queue length and the bucket time fit tc's 32-bit fields.
		tbf := got.tbf(1)
		if uint64(tbf.Limit) < uint64(got.burst) || tbf.Buffer == 0 {
			t.Errorf("limitFor(%v): tbf %+v overflows", tt.kbit, tbf)
		}
	}
}

func TestIfbName(t *testing.T) {
	got := []string{IfbName("bt1"), IfbName("bt4242"), IfbName("tapx")}
	if diff := cmp.Diff([]string{"bi1", "bi4242", "bi-tapx"}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// tcShow runs `tc -s qdisc show dev` and `tc filter show dev … ingress` in the namespace.
func tcShow(t *testing.T, ns, dev string) (qdiscs, filters string) {
	t.Helper()
	return mustInNS(t, ns, "tc", "-s", "qdisc", "show", "dev", dev),
		mustInNS(t, ns, "tc", "filter", "show", "dev", dev, "ingress")
}

func TestBandwidth(t *testing.T) {
	ctx := context.Background()
	ns := testPrefix(t) + "dc"
	d := New()
	if err := d.EnsureNetwork(ctx, netdev.Network{Namespace: ns, Bridge: PublicBridge}); err != nil {
		t.Fatal(err)
	}
	port := netdev.Port{IfaceID: 1, Namespace: ns, Bridge: PublicBridge}
	steps := []struct {
		kbit float64
		rate string // as tc prints it; "" means no limit
	}{
		{1000, "1Mbit"},
		{2048, "2048Kbit"},
		{2048, "2048Kbit"},
		{102400, "102400Kbit"},
		{0, ""},
		{0, ""},
		{500, "500Kbit"},
	}
	var prevF string
	for i, s := range steps {
		port.Bandwidth = s.kbit
		if err := d.EnsurePort(ctx, port); err != nil {
			t.Fatalf("step %d: EnsurePort(%v kbit/s): %v", i, s.kbit, err)
		}
		tapQ, tapF := tcShow(t, ns, "bt1")
		if s.rate == "" {
			if strings.Contains(tapQ, "tbf") || strings.Contains(tapQ, "ingress") || tapF != "" {
				t.Fatalf("step %d: limits left on bt1:\n%s%s", i, tapQ, tapF)
			}
			if readLink(t, ns, "bi1") != nil {
				t.Fatalf("step %d: ifb bi1 left behind", i)
			}
			continue
		}
		ifbQ, _ := tcShow(t, ns, "bi1")
		for dev, out := range map[string]string{"bt1": tapQ, "bi1": ifbQ} {
			if !strings.Contains(out, "qdisc tbf 1: root") || !strings.Contains(out, "rate "+s.rate+" ") {
				t.Fatalf("step %d: %s qdiscs lack tbf rate %s:\n%s", i, dev, s.rate, out)
			}
		}
		if !strings.Contains(tapQ, "qdisc ingress ffff:") || !strings.Contains(tapF, "mirred (Egress Redirect to device bi1)") {
			t.Fatalf("step %d: bt1 ingress is not redirected to bi1:\n%s%s", i, tapQ, tapF)
		}
		if st := readLink(t, ns, "bi1"); st == nil || !st.Up || st.Type != "ifb" {
			t.Fatalf("step %d: ifb bi1 = %+v, want an ifb that is up", i, st)
		}
		// Repeating a setting touches nothing: the filter (and its action index) stays.
		if i > 0 && steps[i-1].kbit == s.kbit {
			if tapF != prevF {
				t.Errorf("step %d: unchanged bandwidth replaced the ingress filter:\n%s\nwas\n%s", i, tapF, prevF)
			}
		}
		prevF = tapF
	}

	// The token bucket holds the burst limitFor chose (checked through netlink, not tc's units).
	want, _ := limitFor(500)
	err := withHandle(ns, func(h *netlink.Handle) error {
		for _, dev := range []string{"bt1", "bi1"} {
			l, err := h.LinkByName(dev)
			if err != nil {
				return err
			}
			root, _, err := rootAndIngress(h, l)
			if err != nil {
				return err
			}
			tbf, ok := root.(*netlink.Tbf)
			if !ok || tbf.Rate != want.rate || tbf.Buffer != netlink.Xmittime(want.rate, want.burst) {
				t.Errorf("%s root qdisc %+v, want tbf rate %d burst %d", dev, root, want.rate, want.burst)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// DeletePort removes the ifb with the tap.
	if err := d.DeletePort(ctx, port); err != nil {
		t.Fatal(err)
	}
	if readLink(t, ns, "bt1") != nil || readLink(t, ns, "bi1") != nil {
		t.Fatal("DeletePort left bt1 or bi1")
	}
}
