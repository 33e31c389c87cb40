package ipam

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"sort"

	"go4.org/netipx"
)

// u128 is an address as a 128-bit integer (IPv4 in its IPv4-mapped form), for offset
// arithmetic that netip does not offer.
type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	if a.Is4() { // cheaper than As16, same value
		b := a.As4()
		return u128{0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) less(v u128) bool { return u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo) }

func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

func (u u128) add64(n uint64) u128 {
	lo, carry := bits.Add64(u.lo, n, 0)
	return u128{u.hi + carry, lo}
}

// addr converts back to an address of the given family.
func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

// span is one allocatable range; start is the offset of from among all allocatable
// addresses of the pool (saturated at math.MaxUint64, as is size).
type span struct {
	from, to    u128
	start, size uint64
	is4         bool
}

// spanList is a pool's allocatable addresses, sorted; offsets count across spans.
type spanList []span

func newSpanList(ranges []netipx.IPRange) spanList {
	s := make(spanList, len(ranges))
	var start uint64
	for i, r := range ranges {
		from, to := u128Of(r.From()), u128Of(r.To())
		d := to.sub(from)
		size := uint64(math.MaxUint64)
		if d.hi == 0 && d.lo != math.MaxUint64 {
			size = d.lo + 1
		}
		s[i] = span{from: from, to: to, start: start, size: size, is4: r.From().Is4()}
		start = satAdd(start, size)
	}
	return s
}

func satAdd(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return math.MaxUint64
}

// total is the number of allocatable addresses, saturated.
func (s spanList) total() uint64 {
	if len(s) == 0 {
		return 0
	}
	last := s[len(s)-1]
	return satAdd(last.start, last.size)
}

// offset returns the offset of u among the allocatable addresses; ok is false when u
// is not allocatable or its offset does not fit in a uint64 (it is then beyond any
// window Next scans). u must be of the pool's family.
func (s spanList) offset(u u128) (uint64, bool) {
	// Binary search for the first span whose end is >= u (usually there is one span).
	i, j := 0, len(s)
	for i < j {
		h := int(uint(i+j) >> 1)
		if s[h].to.less(u) {
			i = h + 1
		} else {
			j = h
		}
	}
	if i == len(s) || u.less(s[i].from) {
		return 0, false
	}
	d := u.sub(s[i].from)
	if d.hi != 0 {
		return 0, false
	}
	off, carry := bits.Add64(s[i].start, d.lo, 0)
	return off, carry == 0 && s[i].start != math.MaxUint64
}

// addr returns the allocatable address at offset off, which must be below total().
func (s spanList) addr(off uint64) netip.Addr {
	i := sort.Search(len(s), func(i int) bool { return off < satAdd(s[i].start, s[i].size) })
	sp := s[i]
	return sp.from.add64(off - sp.start).addr(sp.is4)
}
