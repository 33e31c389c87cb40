package ipam

import (
	"net/netip"
	"slices"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go4.org/netipx"
)

// cmpNet lets cmp compare netip and netipx values (they have unexported fields).
func cmpNet() cmp.Option {
	return cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netipx.IPRange{})
}

// oracleAllocatable applies the pool rules to one address, directly from their
// definition and independently of the package's range arithmetic.
func oracleAllocatable(p Pool, a netip.Addr) bool {
	if !p.Prefix.Contains(a) || a == p.Prefix.Addr() {
		return false
	}
	if a.Is4() && a == netipx.PrefixLastIP(p.Prefix) {
		return false
	}
	if p.Gateway.IsValid() && a == p.Gateway {
		return false
	}
	if slices.Contains(p.Reserved, a) {
		return false
	}
	if len(p.Ranges) > 0 {
		in := false
		for _, r := range p.Ranges {
			if r.From().Compare(a) <= 0 && a.Compare(r.To()) <= 0 {
				in = true
			}
		}
		return in
	}
	return true
}

// oracleCandidates calls yield on every address that could be allocatable, in
// ascending order, until yield returns false: the whole prefix, or each range.
func oracleCandidates(p Pool, yield func(netip.Addr) bool) {
	if len(p.Ranges) == 0 {
		last := netipx.PrefixLastIP(p.Prefix)
		for a := p.Prefix.Addr(); ; a = a.Next() {
			if !yield(a) || a == last {
				return
			}
		}
	}
	rs := slices.Clone(p.Ranges)
	slices.SortFunc(rs, func(x, y netipx.IPRange) int { return x.From().Compare(y.From()) })
	prev := netip.Addr{}
	for _, r := range rs {
		for a := r.From(); ; a = a.Next() {
			if !prev.IsValid() || prev.Less(a) { // skip overlaps already visited
				prev = a
				if !yield(a) {
					return
				}
			}
			if a == r.To() {
				break
			}
		}
	}
}

// oracleNext is a brute-force Next: the first allocatable candidate not in used.
func oracleNext(p Pool, used []netip.Addr) (netip.Addr, bool) {
	taken := make(map[netip.Addr]bool, len(used))
	for _, u := range used {
		taken[u.Unmap()] = true
	}
	var got netip.Addr
	oracleCandidates(p, func(a netip.Addr) bool {
		if oracleAllocatable(p, a) && !taken[a] {
			got = a
			return false
		}
		return true
	})
	return got, got.IsValid()
}

// oracleSize counts the allocatable addresses by enumeration (small pools only).
func oracleSize(p Pool) uint64 {
	var n uint64
	oracleCandidates(p, func(a netip.Addr) bool {
		if oracleAllocatable(p, a) {
			n++
		}
		return true
	})
	return n
}
