package ipam

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"go4.org/netipx"
)

// allocateAll allocates from p until ErrExhausted, appending every result to used, and
// checks each result against the pool rules and the brute-force oracle. It returns the
// addresses allocated.
func allocateAll(t *testing.T, p Pool, used []netip.Addr, limit int) []netip.Addr {
	t.Helper()
	seen := make(map[netip.Addr]bool, len(used))
	for _, u := range used {
		seen[u.Unmap()] = true
	}
	var got []netip.Addr
	for range limit + 1 {
		a, err := p.Next(used)
		want, ok := oracleNext(p, used)
		if errors.Is(err, ErrExhausted) {
			if ok {
				t.Fatalf("Next() exhausted after %d allocations, but %v is free", len(got), want)
			}
			return got
		}
		if err != nil {
			t.Fatalf("Next(): %v", err)
		}
		if a != want {
			t.Fatalf("Next() = %v, oracle says %v (after %d allocations)", a, want, len(got))
		}
		switch {
		case seen[a]:
			t.Fatalf("Next() returned %v twice", a)
		case !p.Prefix.Contains(a):
			t.Fatalf("Next() = %v outside %v", a, p.Prefix)
		case a == p.Prefix.Addr():
			t.Fatalf("Next() returned the network address %v", a)
		case a.Is4() && a == netipx.PrefixLastIP(p.Prefix):
			t.Fatalf("Next() returned the broadcast address %v", a)
		case p.Gateway.IsValid() && a == p.Gateway:
			t.Fatalf("Next() returned the gateway %v", a)
		}
		for _, r := range p.Reserved {
			if a == r {
				t.Fatalf("Next() returned reserved %v", a)
			}
		}
		if err := p.Check(a, used); err != nil {
			t.Fatalf("Check(%v) of a fresh allocation: %v", a, err)
		}
		seen[a] = true
		used = append(used, a)
		got = append(got, a)
		if err := p.Check(a, used); !errors.Is(err, ErrInUse) {
			t.Fatalf("Check(%v) after allocation = %v, want ErrInUse", a, err)
		}
	}
	t.Fatalf("no ErrExhausted after %d allocations", limit)
	return nil
}

func TestAllocateUntilExhausted(t *testing.T) {
	tests := []struct {
		name string
		pool Pool
		used []netip.Addr // present before the first allocation
		want int          // allocations before ErrExhausted
	}{
		{"ipv4 /30", Pool{Prefix: pfx("192.0.2.4/30"), Gateway: ip("192.0.2.5")}, nil, 1},
		{"ipv4 /30 no gateway", Pool{Prefix: pfx("192.0.2.4/30")}, nil, 2},
		{"ipv4 /29", Pool{Prefix: pfx("192.0.2.8/29"), Gateway: ip("192.0.2.9")}, nil, 5},
		{"ipv4 /29 gateway last", Pool{Prefix: pfx("192.0.2.8/29"), Gateway: ip("192.0.2.14")}, nil, 5},
		{"ipv4 /29 reserved and used", Pool{Prefix: pfx("192.0.2.8/29"), Gateway: ip("192.0.2.9"), Reserved: addrs("192.0.2.12")},
			addrs("192.0.2.14", "10.0.0.1", "192.0.2.9"), 3},
		{"ipv6 /126", Pool{Prefix: pfx("2001:db8::/126"), Gateway: ip("2001:db8::1")}, nil, 2},
		{"ipv6 /126 no gateway", Pool{Prefix: pfx("2001:db8::/126")}, nil, 3},
		{"ipv6 /120", Pool{Prefix: pfx("2001:db8::/120"), Gateway: ip("2001:db8::1")}, addrs("2001:db8::80"), 253},
		{"ipv4 /24", Pool{Prefix: pfx("10.9.8.0/24"), Gateway: ip("10.9.8.1")}, nil, 253},
		{"ipv4 /24 ranges", Pool{Prefix: pfx("10.9.8.0/24"), Gateway: ip("10.9.8.1"), Reserved: addrs("10.9.8.20"),
			Ranges: []netipx.IPRange{rng("10.9.8.240-10.9.8.255"), rng("10.9.8.0-10.9.8.20")}}, addrs("10.9.8.241"), 14 + 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.pool.Validate(); err != nil {
				t.Fatalf("Validate(): %v", err)
			}
			got := allocateAll(t, tt.pool, tt.used, tt.want)
			if len(got) != tt.want {
				t.Errorf("allocated %d addresses, want %d", len(got), tt.want)
			}
			if n := tt.pool.Size(); n != oracleSize(tt.pool) {
				t.Errorf("Size() = %d, oracle %d", n, oracleSize(tt.pool))
			}
			if len(tt.used) == 0 && uint64(len(got)) != tt.pool.Size() {
				t.Errorf("allocated %d addresses from an empty pool of Size() %d", len(got), tt.pool.Size())
			}
			for i := 1; i < len(got); i++ {
				if !got[i-1].Less(got[i]) {
					t.Errorf("allocations not ascending: %v then %v", got[i-1], got[i])
				}
			}
		})
	}
}

// TestNextRandom compares Next with the brute-force oracle on random pools and used
// sets, with a fixed seed so failures reproduce.
func TestNextRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		p, used := randomPool(r)
		got, err := p.Next(used)
		want, ok := oracleNext(p, used)
		switch {
		case !ok && !errors.Is(err, ErrExhausted):
			t.Fatalf("case %d %+v: Next() = %v, %v; want ErrExhausted", i, p, got, err)
		case ok && (err != nil || got != want):
			t.Fatalf("case %d %+v: Next() = %v, %v; want %v", i, p, got, err, want)
		}
		if s, o := p.Size(), oracleSize(p); s != o {
			t.Fatalf("case %d %+v: Size() = %d, oracle %d", i, p, s, o)
		}
	}
}

// randomPool builds a valid random pool of at most 1024 addresses and a used set with
// addresses inside and outside it.
func randomPool(r *rand.Rand) (Pool, []netip.Addr) {
	var p Pool
	if r.IntN(2) == 0 {
		bits := 22 + r.IntN(9)
		p.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}), bits).Masked()
	} else {
		bits := 118 + r.IntN(9)
		b := netip.MustParseAddr("2001:db8::").As16()
		for i := 8; i < 16; i++ {
			b[i] = byte(r.IntN(256))
		}
		p.Prefix = netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
	}
	size := 1 << (p.Prefix.Addr().BitLen() - p.Prefix.Bits())
	at := func(off int) netip.Addr { // off may exceed the prefix: outside addresses
		a := p.Prefix.Addr()
		for range off {
			a = a.Next()
		}
		return a
	}
	if gw := at(1 + r.IntN(size-2)); r.IntN(4) > 0 {
		p.Gateway = gw
	}
	for range r.IntN(4) {
		p.Reserved = append(p.Reserved, at(r.IntN(size)))
	}
	for range r.IntN(3) {
		x, y := r.IntN(size), r.IntN(size)
		p.Ranges = append(p.Ranges, netipx.IPRangeFrom(at(min(x, y)), at(max(x, y))))
	}
	used := make([]netip.Addr, r.IntN(size+size/2))
	for i := range used {
		used[i] = at(r.IntN(size + size/4))
	}
	return p, used
}
