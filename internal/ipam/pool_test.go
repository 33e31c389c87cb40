package ipam

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go4.org/netipx"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func rng(s string) netipx.IPRange { return netipx.MustParseIPRange(s) }

func mustPool(t testing.TB, prefix, gateway string, opts ...Option) Pool {
	t.Helper()
	p, err := NewPool(prefix, gateway, opts...)
	if err != nil {
		t.Fatalf("NewPool(%q, %q): %v", prefix, gateway, err)
	}
	return p
}

// errText returns err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewPool(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		gateway string
		opts    []Option
		want    Pool
		wantErr string // substring; the error must also match ErrInvalid
	}{
		{name: "ipv4 with gateway", prefix: "192.0.2.0/24", gateway: "192.0.2.1",
			want: Pool{Prefix: pfx("192.0.2.0/24"), Gateway: ip("192.0.2.1")}},
		{name: "no gateway", prefix: "10.0.0.0/24",
			want: Pool{Prefix: pfx("10.0.0.0/24")}},
		{name: "ipv6 /64", prefix: "2001:db8:0:5::/64", gateway: "2001:db8:0:5::1",
			want: Pool{Prefix: pfx("2001:db8:0:5::/64"), Gateway: ip("2001:db8:0:5::1")}},
		{name: "ipv6 gateway may be the last address", prefix: "2001:db8::/126", gateway: "2001:db8::3",
			want: Pool{Prefix: pfx("2001:db8::/126"), Gateway: ip("2001:db8::3")}},
		{name: "ipv4 /30 is the smallest", prefix: "10.0.0.4/30", gateway: "10.0.0.5",
			want: Pool{Prefix: pfx("10.0.0.4/30"), Gateway: ip("10.0.0.5")}},
		{name: "mapped gateway is unmapped", prefix: "10.0.0.0/24", gateway: "::ffff:10.0.0.1",
			want: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1")}},
		{name: "reserved sorted and deduplicated", prefix: "10.0.0.0/24", gateway: "10.0.0.1",
			opts: []Option{WithReserved(addrs("10.0.0.9", "10.0.0.3", "10.0.0.9")...), WithReserved(ip("::ffff:10.0.0.4"))},
			want: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"), Reserved: addrs("10.0.0.3", "10.0.0.4", "10.0.0.9")}},
		{name: "ranges sorted and merged", prefix: "10.0.0.0/24", gateway: "10.0.0.1",
			opts: []Option{WithRanges(rng("10.0.0.100-10.0.0.150"), rng("10.0.0.10-10.0.0.20"), rng("10.0.0.140-10.0.0.160"), rng("10.0.0.21-10.0.0.30"))},
			want: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"),
				Ranges: []netipx.IPRange{rng("10.0.0.10-10.0.0.30"), rng("10.0.0.100-10.0.0.160")}}},

		{name: "bad prefix", prefix: "10.0.0.0", wantErr: `parse subnet "10.0.0.0"`},
		{name: "empty prefix", prefix: "", wantErr: `parse subnet ""`},
		{name: "host bits", prefix: "10.0.0.7/24", wantErr: "host bits set (did you mean 10.0.0.0/24?)"},
		{name: "ipv4 /31", prefix: "10.0.0.0/31", wantErr: "must be /30 or larger"},
		{name: "ipv4 /32", prefix: "10.0.0.0/32", wantErr: "must be /30 or larger"},
		{name: "ipv6 /127", prefix: "2001:db8::/127", wantErr: "must be /126 or larger"},
		{name: "mapped prefix", prefix: "::ffff:10.0.0.0/120", wantErr: "IPv4-mapped IPv6 is not allowed"},
		{name: "loopback", prefix: "127.0.0.0/24", wantErr: "overlaps loopback space"},
		{name: "multicast", prefix: "224.0.0.0/24", wantErr: "overlaps multicast space"},
		{name: "this network", prefix: "0.0.0.0/0", wantErr: "overlaps \"this network\" space"},
		{name: "ipv6 link-local", prefix: "fe80::/64", wantErr: "overlaps link-local space"},
		{name: "ipv6 multicast", prefix: "ff02::/64", wantErr: "overlaps multicast space"},
		{name: "bad gateway", prefix: "10.0.0.0/24", gateway: "10.0.0", wantErr: `gateway: parse address "10.0.0"`},
		{name: "gateway with zone", prefix: "2001:db8::/64", gateway: "2001:db8::1%eth0", wantErr: "zones are not allowed"},
		{name: "gateway outside", prefix: "10.0.0.0/24", gateway: "10.0.1.1", wantErr: "gateway 10.0.1.1 is outside 10.0.0.0/24"},
		{name: "gateway other family", prefix: "10.0.0.0/24", gateway: "2001:db8::1", wantErr: "is outside"},
		{name: "gateway is network", prefix: "10.0.0.0/24", gateway: "10.0.0.0", wantErr: "is the network address"},
		{name: "gateway is broadcast", prefix: "10.0.0.0/24", gateway: "10.0.0.255", wantErr: "is the broadcast address"},
		{name: "ipv6 gateway is network", prefix: "2001:db8::/64", gateway: "2001:db8::", wantErr: "is the network address"},
		{name: "reserved outside", prefix: "10.0.0.0/24", opts: []Option{WithReserved(ip("10.0.1.3"))},
			wantErr: "reserved address 10.0.1.3 is outside"},
		{name: "range outside", prefix: "10.0.0.0/24", opts: []Option{WithRanges(rng("10.0.0.200-10.0.1.10"))},
			wantErr: "range 10.0.0.200-10.0.1.10 is not inside"},
		{name: "range other family", prefix: "10.0.0.0/24", opts: []Option{WithRanges(rng("2001:db8::1-2001:db8::9"))},
			wantErr: "is not inside"},
		{name: "zero range", prefix: "10.0.0.0/24", opts: []Option{WithRanges(netipx.IPRange{})},
			wantErr: "is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewPool(tt.prefix, tt.gateway, tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("NewPool error = %v, want one containing %q matching ErrInvalid", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPool: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpNet()); diff != "" {
				t.Errorf("NewPool mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateLiteral(t *testing.T) {
	tests := []struct {
		name    string
		pool    Pool
		wantErr string
	}{
		{name: "zero pool", pool: Pool{}, wantErr: "subnet is not set"},
		{name: "unmasked prefix", pool: Pool{Prefix: pfx("10.0.0.1/24")}, wantErr: "host bits set"},
		{name: "valid", pool: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"),
			Ranges: []netipx.IPRange{rng("10.0.0.50-10.0.0.60"), rng("10.0.0.10-10.0.0.55")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pool.Validate()
			if got := errText(err); !strings.Contains(got, tt.wantErr) || (tt.wantErr == "") != (err == nil) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		name string
		pool Pool
		want uint64
	}{
		{"ipv4 /24 with gateway", Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1")}, 253},
		{"ipv4 /24 without gateway", Pool{Prefix: pfx("10.0.0.0/24")}, 254},
		{"ipv4 /29", Pool{Prefix: pfx("10.0.0.8/29"), Gateway: ip("10.0.0.9")}, 5},
		{"ipv4 /30", Pool{Prefix: pfx("10.0.0.8/30"), Gateway: ip("10.0.0.9")}, 1},
		{"ipv6 /126", Pool{Prefix: pfx("2001:db8::/126"), Gateway: ip("2001:db8::1")}, 2},
		{"ipv6 /64", Pool{Prefix: pfx("2001:db8::/64"), Gateway: ip("2001:db8::1")}, math.MaxUint64 - 1},
		{"ipv6 /63 saturates", Pool{Prefix: pfx("2001:db8::/63"), Gateway: ip("2001:db8::1")}, math.MaxUint64},
		{"range of exactly 2^64 saturates", Pool{Prefix: pfx("2001:db8::/63"),
			Ranges: []netipx.IPRange{rng("2001:db8:0:1::-2001:db8:0:1:ffff:ffff:ffff:ffff")}}, math.MaxUint64},
		{"ranges and reserved", Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"),
			Reserved: addrs("10.0.0.12", "10.0.0.200", "10.0.0.12"),
			Ranges:   []netipx.IPRange{rng("10.0.0.10-10.0.0.19"), rng("10.0.0.0-10.0.0.1"), rng("10.0.0.250-10.0.0.255")}}, 9 + 0 + 5},
		{"everything reserved", Pool{Prefix: pfx("10.0.0.0/30"), Reserved: addrs("10.0.0.1", "10.0.0.2")}, 0},
		{"invalid pool", Pool{Prefix: pfx("10.0.0.0/31")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pool.Size(); got != tt.want {
				t.Errorf("Size() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	seq := func(first netip.Addr, n int) []netip.Addr {
		out := make([]netip.Addr, n)
		for i := range out {
			out[i] = first
			first = first.Next()
		}
		return out
	}
	v4 := Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1")}
	tests := []struct {
		name    string
		pool    Pool
		used    []netip.Addr
		want    string
		wantErr error
	}{
		{name: "empty pool skips network and gateway", pool: v4, want: "10.0.0.2"},
		{name: "after used", pool: v4, used: addrs("10.0.0.2", "10.0.0.3"), want: "10.0.0.4"},
		{name: "lowest hole of unsorted used", pool: v4, used: addrs("10.0.0.5", "10.0.0.2", "10.0.0.4"), want: "10.0.0.3"},
		{name: "duplicates in used", pool: v4, used: addrs("10.0.0.2", "10.0.0.2", "10.0.0.2"), want: "10.0.0.3"},
		{name: "foreign addresses ignored", pool: v4,
			used: addrs("10.0.1.2", "192.0.2.2", "2001:db8::2", "10.0.0.0", "10.0.0.255", "10.0.0.1"), want: "10.0.0.2"},
		{name: "mapped used counts as ipv4", pool: v4, used: addrs("::ffff:10.0.0.2"), want: "10.0.0.3"},
		{name: "gateway elsewhere", pool: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.254")}, want: "10.0.0.1"},
		{name: "no gateway", pool: Pool{Prefix: pfx("10.0.0.0/24")}, used: addrs("10.0.0.1"), want: "10.0.0.2"},
		{name: "reserved skipped", pool: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"), Reserved: addrs("10.0.0.3", "10.0.0.2")},
			used: addrs("10.0.0.4"), want: "10.0.0.5"},
		{name: "range start", pool: Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"), Ranges: []netipx.IPRange{rng("10.0.0.100-10.0.0.110")}},
			used: addrs("10.0.0.2"), want: "10.0.0.100"},
		{name: "second range when the first is full", pool: Pool{Prefix: pfx("10.0.0.0/24"),
			Ranges: []netipx.IPRange{rng("10.0.0.200-10.0.0.255"), rng("10.0.0.10-10.0.0.11")}},
			used: addrs("10.0.0.11", "10.0.0.10"), want: "10.0.0.200"},
		{name: "range over network and broadcast", pool: Pool{Prefix: pfx("10.0.0.0/24"),
			Ranges: []netipx.IPRange{rng("10.0.0.0-10.0.0.0"), rng("10.0.0.255-10.0.0.255")}}, wantErr: ErrExhausted},
		{name: "crosses an octet in a /16", pool: Pool{Prefix: pfx("10.1.0.0/16"), Gateway: ip("10.1.0.1")},
			used: seq(ip("10.1.0.2"), 300), want: "10.1.1.46"},
		{name: "ipv4 /30 single address", pool: Pool{Prefix: pfx("10.0.0.4/30"), Gateway: ip("10.0.0.5")}, want: "10.0.0.6"},
		{name: "ipv4 /30 exhausted", pool: Pool{Prefix: pfx("10.0.0.4/30"), Gateway: ip("10.0.0.5")},
			used: addrs("10.0.0.6"), wantErr: ErrExhausted},
		{name: "everything reserved", pool: Pool{Prefix: pfx("10.0.0.0/30"), Reserved: addrs("10.0.0.1", "10.0.0.2")}, wantErr: ErrExhausted},
		{name: "ipv6 /64", pool: Pool{Prefix: pfx("2001:db8:0:5::/64"), Gateway: ip("2001:db8:0:5::1")}, want: "2001:db8:0:5::2"},
		{name: "ipv6 zoned used counts", pool: Pool{Prefix: pfx("2001:db8::/64"), Gateway: ip("2001:db8::1")},
			used: addrs("2001:db8::2%eth0", "::ffff:10.0.0.3", "10.0.0.4"), want: "2001:db8::3"},
		{name: "ipv6 last address is allocatable", pool: Pool{Prefix: pfx("2001:db8::/126"), Gateway: ip("2001:db8::1")},
			used: addrs("2001:db8::2"), want: "2001:db8::3"},
		{name: "ipv6 /126 exhausted", pool: Pool{Prefix: pfx("2001:db8::/126"), Gateway: ip("2001:db8::1")},
			used: addrs("2001:db8::3", "2001:db8::2"), wantErr: ErrExhausted},
		{name: "ipv6 crosses 32-bit boundary", pool: Pool{Prefix: pfx("2001:db8::/64"),
			Ranges: []netipx.IPRange{rng("2001:db8::ffff:fffe-2001:db8::1:0:5")}},
			used: addrs("2001:db8::ffff:fffe", "2001:db8::ffff:ffff"), want: "2001:db8::1:0:0"},
		{name: "huge first range saturates offsets", pool: Pool{Prefix: pfx("2001:db8::/56"),
			Ranges: []netipx.IPRange{rng("2001:db8::-2001:db8:0:1:ffff:ffff:ffff:ffff"), rng("2001:db8:0:10::-2001:db8:0:10::ff")}},
			used: addrs("2001:db8:0:10::", "2001:db8::1"), want: "2001:db8::2"},
		{name: "range of exactly 2^64", pool: Pool{Prefix: pfx("2001:db8::/63"),
			Ranges: []netipx.IPRange{rng("2001:db8:0:1::-2001:db8:0:1:ffff:ffff:ffff:ffff")}},
			used: addrs("2001:db8:0:1::", "2001:db8:0:1::1"), want: "2001:db8:0:1::2"},
		{name: "invalid literal pool", pool: Pool{Prefix: pfx("10.0.0.1/24")}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.pool.Next(tt.used)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Next() = %v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Next(): %v", err)
			}
			if diff := cmp.Diff(ip(tt.want), got, cmpNet()); diff != "" {
				t.Errorf("Next() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := Pool{Prefix: pfx("10.0.0.0/24"), Gateway: ip("10.0.0.1"), Reserved: addrs("10.0.0.9"),
		Ranges: []netipx.IPRange{rng("10.0.0.1-10.0.0.100")}}
	v6 := Pool{Prefix: pfx("2001:db8::/64"), Gateway: ip("2001:db8::1")}
	used := addrs("10.0.0.5", "::ffff:10.0.0.6", "2001:db8::5%eth0")
	tests := []struct {
		name    string
		pool    Pool
		addr    netip.Addr
		wantErr error
		wantMsg string
	}{
		{name: "free", pool: p, addr: ip("10.0.0.2")},
		{name: "free mapped", pool: p, addr: ip("::ffff:10.0.0.2")},
		{name: "in use", pool: p, addr: ip("10.0.0.6"), wantErr: ErrInUse, wantMsg: "address in use: 10.0.0.6 is already allocated"},
		{name: "outside prefix", pool: p, addr: ip("10.0.1.2"), wantErr: ErrOutOfPool, wantMsg: "address out of pool: 10.0.1.2 is outside 10.0.0.0/24"},
		{name: "other family", pool: p, addr: ip("2001:db8::2"), wantErr: ErrOutOfPool},
		{name: "zero address", pool: p, addr: netip.Addr{}, wantErr: ErrOutOfPool},
		{name: "outside ranges", pool: p, addr: ip("10.0.0.200"), wantErr: ErrOutOfPool, wantMsg: "outside the allocatable ranges"},
		{name: "network", pool: p, addr: ip("10.0.0.0"), wantErr: ErrReserved, wantMsg: "address reserved: 10.0.0.0 is the network address of 10.0.0.0/24"},
		{name: "broadcast", pool: p, addr: ip("10.0.0.255"), wantErr: ErrReserved, wantMsg: "is the broadcast address"},
		{name: "gateway", pool: p, addr: ip("10.0.0.1"), wantErr: ErrReserved, wantMsg: "is the gateway"},
		{name: "reserved", pool: p, addr: ip("10.0.0.9"), wantErr: ErrReserved, wantMsg: "is reserved"},
		{name: "ipv6 free", pool: v6, addr: ip("2001:db8::ffff:ffff:ffff:ffff")},
		{name: "ipv6 in use", pool: v6, addr: ip("2001:db8::5"), wantErr: ErrInUse},
		{name: "ipv6 network", pool: v6, addr: ip("2001:db8::"), wantErr: ErrReserved},
		{name: "ipv6 gateway", pool: v6, addr: ip("2001:db8::1"), wantErr: ErrReserved},
		{name: "invalid pool", pool: Pool{Prefix: pfx("10.0.0.0/31")}, addr: ip("10.0.0.1"), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pool.Check(tt.addr, used)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check(%v) = %v, want nil", tt.addr, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check(%v) = %v, want %v", tt.addr, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Check(%v) = %q, want message containing %q", tt.addr, err, tt.wantMsg)
			}
		})
	}
}
