package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"go4.org/netipx"
)

// benchUsed returns n distinct addresses of p in random order: the n addresses after
// the gateway (p has it as its first host address) with one hole near the end, plus
// 100 addresses outside the pool.
func benchUsed(b *testing.B, p Pool, n int) []netip.Addr {
	b.Helper()
	var used []netip.Addr
	for a := p.Gateway.Next(); len(used) < n+1; a = a.Next() {
		used = append(used, a)
	}
	used = append(used[:n-10], used[n-9:]...) // free one address
	for i := range 100 {
		used = append(used, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
	return used
}

// BenchmarkNext measures Next on a /16 with 10 000 used addresses (target: well
// under a millisecond per call).
func BenchmarkNext(b *testing.B) {
	for _, bc := range []struct {
		name       string
		prefix, gw string
		used       int
	}{
		{"ipv4_slash16_10k", "10.1.0.0/16", "10.1.0.1", 10000},
		{"ipv4_slash16_60k", "10.1.0.0/16", "10.1.0.1", 60000},
		{"ipv6_slash64_10k", "2001:db8::/64", "2001:db8::1", 10000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustPool(b, bc.prefix, bc.gw)
			used := benchUsed(b, p, bc.used)
			want, _ := oracleNext(p, used)
			b.ResetTimer()
			for b.Loop() {
				got, err := p.Next(used)
				if err != nil || got != want {
					b.Fatalf("Next() = %v, %v; want %v", got, err, want)
				}
			}
		})
	}
}

// BenchmarkIPSetBuilder is the straightforward alternative (remove every used address
// from an IPSet of the pool), kept to show why Next uses a bitmap instead.
func BenchmarkIPSetBuilder(b *testing.B) {
	p := mustPool(b, "10.1.0.0/16", "10.1.0.1")
	used := benchUsed(b, p, 10000)
	want, _ := oracleNext(p, used)
	b.ResetTimer()
	for b.Loop() {
		var sb netipx.IPSetBuilder
		sb.AddPrefix(p.Prefix)
		sb.Remove(p.Prefix.Addr())
		sb.Remove(netipx.PrefixLastIP(p.Prefix))
		sb.Remove(p.Gateway)
		for _, u := range used {
			sb.Remove(u)
		}
		set, err := sb.IPSet()
		if err != nil || set.Ranges()[0].From() != want {
			b.Fatalf("IPSet = %v, %v; want first %v", set.Ranges()[0], err, want)
		}
	}
}
