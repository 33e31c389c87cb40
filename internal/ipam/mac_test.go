package ipam

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMAC(t *testing.T) {
	tests := []struct {
		id   int64
		want string
	}{
		{0, "02:00:00:00:00:00"},
		{1, "02:00:00:00:00:01"},
		{434673, "02:00:00:06:a1:f1"},
		{1<<24 + 1, "02:00:01:00:00:01"}, // would collide with id 1 in a 24-bit scheme
		{1<<40 - 1, "02:ff:ff:ff:ff:ff"},
		{1 << 40, "02:00:00:00:00:00"}, // wraps modulo 2^40
		{-1, "02:ff:ff:ff:ff:ff"},
	}
	for _, tt := range tests {
		got := MAC(tt.id)
		if diff := cmp.Diff(tt.want, got.String()); diff != "" {
			t.Errorf("MAC(%d) mismatch (-want +got):\n%s", tt.id, diff)
		}
		if len(got) != 6 || got[0]&0x02 == 0 || got[0]&0x01 != 0 {
			t.Errorf("MAC(%d) = %v is not a locally administered unicast address", tt.id, got)
		}
		if _, err := net.ParseMAC(got.String()); err != nil {
			t.Errorf("MAC(%d) = %v does not parse: %v", tt.id, got, err)
		}
	}
}

func TestMACDistinct(t *testing.T) {
	seen := make(map[string]int64)
	for _, base := range []int64{0, 1 << 24, 1 << 32, 1<<40 - 5000} {
		for id := base; id < base+5000; id++ {
			s := MAC(id).String()
			if prev, ok := seen[s]; ok {
				t.Fatalf("MAC(%d) = MAC(%d) = %s", id, prev, s)
			}
			seen[s] = id
		}
	}
}
