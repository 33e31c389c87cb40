package guestagent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestToFreeze(t *testing.T) {
	const mounts = `/dev/root / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
/dev/vdb /data xfs rw 0 0
/dev/vdc /mnt/my\040disk ext4 rw 0 0
/dev/vdd /ro ext4 ro,relatime 0 0
/dev/vdb /data/again xfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
`
	got := toFreeze(readMounts(strings.NewReader(mounts)))
	want := []string{"/data/again", "/mnt/my disk", "/"} // last mounted first, one per device
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("toFreeze (-want +got):\n%s", d)
	}
}

func TestSplitter(t *testing.T) {
	in := "garbage {\"execute\":\"a\",\"arguments\":{\"s\":\"}{\\\"\"}} {\"half\": \xff{\"execute\":\"b\"}\n"
	sp := newSplitter(strings.NewReader(in))
	var got []string
	for {
		obj, err := sp.next()
		if err != nil {
			break
		}
		got = append(got, string(obj))
	}
	want := []string{`{"execute":"a","arguments":{"s":"}{\""}}`, `{"execute":"b"}`}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("objects (-want +got):\n%s", d)
	}
}
