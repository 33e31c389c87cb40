package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubnet(t *testing.T) {
	tests := []struct {
		in      string
		want    netip.Prefix
		wantErr string
	}{
		{in: "192.168.0.0/24", want: pfx("192.168.0.0/24")},
		{in: "10.0.0.0/8", want: pfx("10.0.0.0/8")},
		{in: "10.0.0.4/30", want: pfx("10.0.0.4/30")},
		{in: "2001:db8::/64", want: pfx("2001:db8::/64")},
		{in: "2001:DB8:0:0::/64", want: pfx("2001:db8::/64")},
		{in: "2001:db8::/126", want: pfx("2001:db8::/126")},
		{in: "192.168.0.7/24", wantErr: "subnet 192.168.0.7/24 has host bits set (did you mean 192.168.0.0/24?)"},
		{in: "10.0.0.0/31", wantErr: "IPv4 subnets must be /30 or larger"},
		{in: "2001:db8::/127", wantErr: "IPv6 subnets must be /126 or larger"},
		{in: "::ffff:192.168.0.0/120", wantErr: "IPv4-mapped"},
		{in: "192.168.0.0", wantErr: `parse subnet "192.168.0.0"`},
		{in: "192.168.0.0/33", wantErr: "parse subnet"},
		{in: " 192.168.0.0/24", wantErr: "parse subnet"},
		{in: "", wantErr: "parse subnet"},
		{in: "127.0.0.0/8", wantErr: "loopback"},
		{in: "0.0.0.0/0", wantErr: "\"this network\""},
		{in: "239.1.0.0/16", wantErr: "multicast"},
		{in: "240.0.0.0/24", wantErr: "reserved or broadcast"},
		{in: "::/64", wantErr: "unspecified or loopback"},
		{in: "fe80::/64", wantErr: "link-local"},
		{in: "ff05::/64", wantErr: "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSubnet(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseSubnet(%q) = %v, %v; want ErrInvalid containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubnet(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpNet()); diff != "" {
				t.Errorf("ParseSubnet(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    netip.Addr
		wantErr string
	}{
		{in: "192.168.0.5", want: ip("192.168.0.5")},
		{in: "::ffff:192.168.0.5", want: ip("192.168.0.5")},
		{in: "2001:DB8::5", want: ip("2001:db8::5")},
		{in: "fe80::1%eth0", wantErr: "zones are not allowed"},
		{in: "192.168.0.256", wantErr: `parse address "192.168.0.256"`},
		{in: "192.168.0.0/24", wantErr: "parse address"},
		{in: "", wantErr: "parse address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseAddr(%q) = %v, %v; want ErrInvalid containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddr(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpNet()); diff != "" {
				t.Errorf("ParseAddr(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSubnet64(t *testing.T) {
	tests := []struct {
		name    string
		prefix  netip.Prefix
		index   uint64
		want    netip.Prefix
		wantErr string
	}{
		{"first", pfx("2001:db8::/32"), 0, pfx("2001:db8::/64"), ""},
		{"fifth", pfx("2001:db8::/32"), 5, pfx("2001:db8:0:5::/64"), ""},
		{"carries into the third group", pfx("2001:db8::/32"), 0x10000, pfx("2001:db8:1::/64"), ""},
		{"last of a /32", pfx("2001:db8::/32"), 1<<32 - 1, pfx("2001:db8:ffff:ffff::/64"), ""},
		{"past a /32", pfx("2001:db8::/32"), 1 << 32, netip.Prefix{}, "index 4294967296 out of range (the prefix holds 4294967296 /64 subnets)"},
		{"/48", pfx("2001:db8:1::/48"), 0xbeef, pfx("2001:db8:1:beef::/64"), ""},
		{"/64 has one", pfx("2001:db8:0:7::/64"), 0, pfx("2001:db8:0:7::/64"), ""},
		{"/64 index 1", pfx("2001:db8:0:7::/64"), 1, netip.Prefix{}, "out of range"},
		{"/56 last", pfx("2001:db8:0:100::/56"), 255, pfx("2001:db8:0:1ff::/64"), ""},
		{"too long", pfx("2001:db8::/80"), 0, netip.Prefix{}, "must be /64 or shorter"},
		{"host bits", pfx("2001:db8::1/32"), 0, netip.Prefix{}, "host bits set (did you mean 2001:db8::/32?)"},
		{"ipv4", pfx("10.0.0.0/8"), 0, netip.Prefix{}, "an IPv6 prefix is required"},
		{"mapped", pfx("::ffff:10.0.0.0/96"), 0, netip.Prefix{}, "an IPv6 prefix is required"},
		{"zero", netip.Prefix{}, 0, netip.Prefix{}, "an IPv6 prefix is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Subnet64(tt.prefix, tt.index)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Subnet64(%v, %d) = %v, %v; want ErrInvalid containing %q", tt.prefix, tt.index, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Subnet64(%v, %d): %v", tt.prefix, tt.index, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpNet()); diff != "" {
				t.Errorf("Subnet64(%v, %d) mismatch (-want +got):\n%s", tt.prefix, tt.index, diff)
			}
		})
	}
}

// TestSubnet64Pool is the IPv6 per-iface flow: a datacenter /64 and a pool on it
// with gateway ::1 hand out ::2, ::3, ...
func TestSubnet64Pool(t *testing.T) {
	sub, err := Subnet64(pfx("2001:db8::/32"), 3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPoolFrom(sub, DefaultGateway(sub))
	if err != nil {
		t.Fatal(err)
	}
	var used []netip.Addr
	for range 3 {
		a, err := p.Next(used)
		if err != nil {
			t.Fatal(err)
		}
		used = append(used, a)
	}
	want := addrs("2001:db8:0:3::2", "2001:db8:0:3::3", "2001:db8:0:3::4")
	if diff := cmp.Diff(want, used, cmpNet()); diff != "" {
		t.Errorf("allocations mismatch (-want +got):\n%s", diff)
	}
}

func TestDefaultVLANSubnet(t *testing.T) {
	tests := []struct {
		index int
		want  netip.Prefix
	}{
		{0, pfx("10.0.0.0/24")},
		{1, pfx("10.0.1.0/24")},
		{255, pfx("10.0.255.0/24")},
		{256, pfx("10.1.0.0/24")},
		{8352, pfx("10.32.160.0/24")},
		{65535, pfx("10.255.255.0/24")},
		{65536, pfx("10.0.0.0/24")},
		{65536 + 257, pfx("10.1.1.0/24")},
		{-1, pfx("10.255.255.0/24")},
	}
	for _, tt := range tests {
		got := DefaultVLANSubnet(tt.index)
		if diff := cmp.Diff(tt.want, got, cmpNet()); diff != "" {
			t.Errorf("DefaultVLANSubnet(%d) mismatch (-want +got):\n%s", tt.index, diff)
		}
		if _, err := ParseSubnet(got.String()); err != nil {
			t.Errorf("DefaultVLANSubnet(%d) = %v is not a valid subnet: %v", tt.index, got, err)
		}
	}
}

func TestDefaultGateway(t *testing.T) {
	tests := []struct {
		prefix netip.Prefix
		want   netip.Addr
	}{
		{pfx("192.0.2.0/24"), ip("192.0.2.1")},
		{pfx("192.0.2.7/24"), ip("192.0.2.1")},
		{pfx("10.0.0.4/30"), ip("10.0.0.5")},
		{pfx("2001:db8:0:5::/64"), ip("2001:db8:0:5::1")},
		{netip.Prefix{}, netip.Addr{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, DefaultGateway(tt.prefix), cmpNet()); diff != "" {
			t.Errorf("DefaultGateway(%v) mismatch (-want +got):\n%s", tt.prefix, diff)
		}
	}
}
