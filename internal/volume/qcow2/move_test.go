package qcow2

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMove moves an overlay from one host's driver to another's: the copy is rebased onto
// the destination's own copy of the image and shows the same data; a stream whose
// verification fails leaves no disk behind.
func TestMove(t *testing.T) {
	ctx := context.Background()
	src, dst := newTest(t, 1000), newTest(t, 1000)
	raw := rawImage(t, 32<<20, 0x42)
	for _, d := range []*Driver{src, dst} {
		if _, err := d.Import(ctx, 1, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.CreateFrom(ctx, 2, 1, 64); err != nil {
		t.Fatal(err)
	}
	if err := qemuIO(src.Path(2), "qcow2", "write -P 0x43 1M 1M"); err != nil {
		t.Fatal(err)
	}
	send := func(ctx context.Context, id int64, verify error) error {
		f, _, backing, err := src.Open(ctx, id)
		if err != nil {
			return err
		}
		defer f.Close()
		return dst.Receive(ctx, id, 64, backing, func(w io.Writer) error {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			return verify
		})
	}
	if err := send(ctx, 2, errors.New("checksum mismatch")); err == nil {
		t.Fatal("Receive kept a stream that failed verification")
	}
	mustExist(t, dst, 2, false)
	if err := send(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fileInfo{Format: "qcow2", VirtualSize: 64 << 20, Backing: dst.Path(1)}, inspect(t, dst.Path(2))); diff != "" {
		t.Errorf("moved overlay (-want +got):\n%s", diff)
	}
	if !holds(t, dst.Path(2), 0x42) || qemuIO(dst.Path(2), "qcow2", "read -P 0x43 1M 1M") != nil {
		t.Error("the moved overlay does not show the image's and its own data")
	}
	if got := dst.Disks(); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("Disks() = %v", got)
	}
	if err := dst.Delete(ctx, 1); err == nil {
		t.Error("the destination's image was deleted under the moved overlay")
	}
}
