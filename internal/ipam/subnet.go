package ipam

import (
	"encoding/binary"
	"net/netip"
)

// Prefix length limits: a pool needs room for a network address, a gateway and at
// least one allocatable address (plus the broadcast address for IPv4).
const (
	// MaxIPv4Bits is the longest IPv4 prefix accepted for a pool or subnet (/30).
	MaxIPv4Bits = 30
	// MaxIPv6Bits is the longest IPv6 prefix accepted for a pool or subnet (/126).
	MaxIPv6Bits = 126
)

// ParseSubnet parses a CIDR subnet such as the `subnet` parameter of hosting.vlan.create.
//
// The result is canonical (masked). A prefix with host bits set ("192.168.0.7/24") is
// rejected rather than silently masked, because the caller may have meant an address
// (the gateway is a separate parameter); the error names the canonical form. The same
// rules as for pools apply: IPv4 at most /30, IPv6 at most /126, no IPv4-mapped IPv6,
// no zone, and no special-purpose space (unspecified, loopback, multicast, IPv4
// 240.0.0.0/4, IPv6 link-local).
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalidf("parse subnet %q: %w", s, err)
	}
	if err := checkPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// ParseAddr parses a single IP address such as the `ip` of a private iface_spec.
//
// IPv4-mapped IPv6 ("::ffff:10.0.0.5") is returned as plain IPv4; zones are rejected.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalidf("parse address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, invalidf("parse address %q: zones are not allowed", s)
	}
	return a.Unmap(), nil
}

// checkPrefix validates a pool or subnet prefix (see ParseSubnet for the rules).
func checkPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return invalidf("subnet is not set")
	}
	a := p.Addr()
	if a.Is4In6() {
		return invalidf("subnet %s: IPv4-mapped IPv6 is not allowed, use the IPv4 form", p)
	}
	if m := p.Masked(); m != p {
		return invalidf("subnet %s has host bits set (did you mean %s?)", p, m)
	}
	if a.Is4() && p.Bits() > MaxIPv4Bits {
		return invalidf("subnet %s is too small: IPv4 subnets must be /%d or larger", p, MaxIPv4Bits)
	}
	if a.Is6() && p.Bits() > MaxIPv6Bits {
		return invalidf("subnet %s is too small: IPv6 subnets must be /%d or larger", p, MaxIPv6Bits)
	}
	special := [...]struct {
		p    netip.Prefix
		what string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast"},
		{netip.MustParsePrefix("::/127"), "unspecified or loopback"},
		{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	for _, s := range special {
		if p.Overlaps(s.p) {
			return invalidf("subnet %s overlaps %s space %s", p, s.what, s.p)
		}
	}
	return nil
}

// Subnet64 returns the index-th /64 inside an IPv6 prefix of length /64 or shorter:
// Subnet64(2001:db8::/32, 5) is 2001:db8:0:5::/64. Berth gives each datacenter one /64
// of the configured IPv6 prefix and allocates per-iface addresses from it with a Pool
// whose gateway is DefaultGateway (::1).
func Subnet64(prefix netip.Prefix, index uint64) (netip.Prefix, error) {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Addr().Is4In6() {
		return netip.Prefix{}, invalidf("subnet64 of %s: an IPv6 prefix is required", prefix)
	}
	if prefix.Bits() > 64 {
		return netip.Prefix{}, invalidf("subnet64 of %s: the prefix must be /64 or shorter", prefix)
	}
	if m := prefix.Masked(); m != prefix {
		return netip.Prefix{}, invalidf("subnet64 of %s: host bits set (did you mean %s?)", prefix, m)
	}
	free := uint(64 - prefix.Bits()) // subnet bits available for the index
	if free < 64 && index>>free != 0 {
		return netip.Prefix{}, invalidf("subnet64 of %s: index %d out of range (the prefix holds %d /64 subnets)",
			prefix, index, uint64(1)<<free)
	}
	b := prefix.Addr().As16()
	hi := binary.BigEndian.Uint64(b[:8]) | index
	binary.BigEndian.PutUint64(b[:8], hi)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64), nil
}

// DefaultVLANSubnet returns Berth's default subnet for a private VLAN created without
// one: 10.<i/256>.<i%256>.0/24, where i is index reduced modulo 65536 (its low 16 bits,
// so negative indexes wrap too). Overlaps between VLANs after wrapping are harmless:
// each VLAN is its own layer-2 domain inside Berth's network namespaces.
func DefaultVLANSubnet(index int) netip.Prefix {
	i := uint16(index)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
}

// DefaultGateway returns the first host address of a prefix (x.y.z.1, or ::1 for an
// IPv6 /64), Berth's convention for gateways; the zero Addr for an invalid prefix.
func DefaultGateway(prefix netip.Prefix) netip.Addr {
	if !prefix.IsValid() {
		return netip.Addr{}
	}
	return prefix.Masked().Addr().Next()
}
