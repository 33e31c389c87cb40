package ipam

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"go4.org/netipx"
)

// FuzzNext builds a pool from random parameters (IPv4 /22–/30 or IPv6 /118–/126,
// random gateway, reserved addresses, ranges and used set, with addresses outside
// the pool and IPv4-mapped forms) and checks Next and Check against the brute-force
// oracle: Next returns the lowest free allocatable address, never a duplicate, the
// gateway, network, broadcast or a reserved address, and small pools exhaust exactly
// after Size() minus the already-used allocatable addresses.
func FuzzNext(f *testing.F) {
	f.Add(false, uint8(8), uint64(0x0a000000), uint16(1), []byte{}, []byte{}, []byte{})
	f.Add(false, uint8(7), uint64(0x0a000008), uint16(1), []byte{0, 3}, []byte{}, []byte{0, 6, 0, 2})
	f.Add(true, uint8(8), uint64(0), uint16(1), []byte{}, []byte{}, []byte{})
	f.Add(true, uint8(5), uint64(1234567), uint16(0xffff), []byte{0, 9, 0, 10}, []byte{0, 4, 0, 30, 0, 40, 0, 50}, []byte{0, 5, 0, 4, 1, 0})
	f.Add(false, uint8(0), uint64(0x0a0b0c00), uint16(77), []byte{1, 2}, []byte{0, 200, 3, 255}, []byte{0x80, 0x4d, 0, 78, 0x80, 78})
	f.Fuzz(func(t *testing.T, v6 bool, bitsSel uint8, base uint64, gwOff uint16, reserved, ranges, used []byte) {
		var prefix netip.Prefix
		if v6 {
			b := netip.MustParseAddr("2001:db8::").As16()
			binary.BigEndian.PutUint64(b[8:], base)
			prefix = netip.PrefixFrom(netip.AddrFrom16(b), 118+int(bitsSel%9)).Masked()
		} else {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(base))
			b[0] = 10
			prefix = netip.PrefixFrom(netip.AddrFrom4(b), 22+int(bitsSel%9)).Masked()
		}
		size := uint64(1) << (prefix.Addr().BitLen() - prefix.Bits())
		first := u128Of(prefix.Addr())
		at := func(off uint64) netip.Addr { return first.add64(off).addr(!v6) }
		var opts []Option
		for i := 0; i+1 < len(reserved); i += 2 {
			opts = append(opts, WithReserved(at(uint64(binary.BigEndian.Uint16(reserved[i:]))%size)))
		}
		for i := 0; i+3 < len(ranges) && i < 12; i += 4 {
			x := uint64(binary.BigEndian.Uint16(ranges[i:])) % size
			y := uint64(binary.BigEndian.Uint16(ranges[i+2:])) % size
			opts = append(opts, WithRanges(netipx.IPRangeFrom(at(min(x, y)), at(max(x, y)))))
		}
		var gw netip.Addr
		if gwOff != 0xffff {
			gw = at(uint64(gwOff) % size)
		}
		p, err := NewPoolFrom(prefix, gw, opts...)
		if gw.IsValid() && (gw == prefix.Addr() || !v6 && gw == netipx.PrefixLastIP(prefix)) {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("NewPoolFrom(%v, gateway %v) = %v, want ErrInvalid", prefix, gw, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("NewPoolFrom(%v, %v): %v", prefix, gw, err)
		}

		var initial []netip.Addr
		for i := 0; i+1 < len(used); i += 2 {
			v := binary.BigEndian.Uint16(used[i:])
			a := at(uint64(v&0x7fff) % (size + size/2)) // some fall outside the prefix
			if v&0x8000 != 0 && !v6 {
				a = netip.AddrFrom16(a.As16()) // IPv4-mapped form of the same address
			}
			initial = append(initial, a)
		}

		total := oracleSize(p)
		if got := p.Size(); got != total {
			t.Fatalf("%+v: Size() = %d, oracle %d", p, got, total)
		}
		taken := make(map[netip.Addr]bool)
		for _, u := range initial {
			if oracleAllocatable(p, u.Unmap()) {
				taken[u.Unmap()] = true
			}
		}
		free := total - uint64(len(taken))

		// Small pools: allocate until exhaustion; bigger ones: a few steps.
		limit := free
		if size > 256 && limit > 8 {
			limit = 8
		}
		cur := initial
		seen := make(map[netip.Addr]bool)
		exhausted := false
		for n := uint64(0); n <= limit && !exhausted; n++ {
			a, err := p.Next(cur)
			want, ok := oracleNext(p, cur)
			if !ok {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("%+v: Next() = %v, %v; want ErrExhausted", p, a, err)
				}
				if n != free {
					t.Fatalf("%+v: exhausted after %d allocations, want %d", p, n, free)
				}
				exhausted = true
				continue
			}
			if err != nil || a != want {
				t.Fatalf("%+v: Next() = %v, %v; want %v", p, a, err, want)
			}
			if seen[a] || taken[a] || !oracleAllocatable(p, a) || (gw.IsValid() && a == gw) {
				t.Fatalf("%+v: Next() = %v is not a fresh allocatable address", p, a)
			}
			if err := p.Check(a, cur); err != nil {
				t.Fatalf("%+v: Check(%v) of a fresh allocation: %v", p, a, err)
			}
			seen[a] = true
			cur = append(cur, a)
			if err := p.Check(a, cur); !errors.Is(err, ErrInUse) {
				t.Fatalf("%+v: Check(%v) after allocation = %v, want ErrInUse", p, a, err)
			}
		}
		if limit == free && !exhausted {
			t.Fatalf("%+v: no ErrExhausted after %d allocations", p, free)
		}

		// Check agrees with the oracle on every used address and a few others.
		inUse := make(map[netip.Addr]bool, len(cur))
		for _, u := range cur {
			inUse[u.Unmap()] = true
		}
		for _, u := range append(cur, at(0), at(1), at(size/2), at(size-1), at(size)) {
			err := p.Check(u, cur)
			switch {
			case !oracleAllocatable(p, u.Unmap()):
				if !errors.Is(err, ErrReserved) && !errors.Is(err, ErrOutOfPool) {
					t.Fatalf("%+v: Check(%v) = %v, want ErrReserved or ErrOutOfPool", p, u, err)
				}
			case inUse[u.Unmap()]:
				if !errors.Is(err, ErrInUse) {
					t.Fatalf("%+v: Check(%v) = %v, want ErrInUse", p, u, err)
				}
			case err != nil:
				t.Fatalf("%+v: Check(%v) = %v, want nil", p, u, err)
			}
		}
	})
}
