package fake

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"

	"github.com/berth-io/berth/internal/volume"
)

// The fake's disks move between hosts as their content string.

var _ volume.Mover = (*Driver)(nil)

// Open implements volume.Mover.
func (d *Driver) Open(_ context.Context, id int64) (io.ReadCloser, int64, int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, err := d.source(id)
	if err != nil {
		return nil, 0, 0, err
	}
	return io.NopCloser(strings.NewReader(x.Content)), int64(len(x.Content)), 0, nil
}

// Receive implements volume.Mover.
func (d *Driver) Receive(ctx context.Context, id, sizeMB, _ int64, fill func(w io.Writer) error) error {
	if ok, _ := d.Exists(ctx, id); ok {
		return nil
	}
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return err
	}
	return d.change(ctx, func() error { return d.add(id, sizeMB, b.String()) })
}

// Disks implements volume.Mover.
func (d *Driver) Disks() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]int64, 0, len(d.d.Disks))
	for id := range d.d.Disks {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
