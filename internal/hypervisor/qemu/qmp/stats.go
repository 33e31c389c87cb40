package qmp

import "context"

// BlockStat is one entry of query-blockstats: the I/O counters of one block backend.
type BlockStat struct {
	// Device is the backend's name, "" for the anonymous backends of -blockdev drives.
	Device string `json:"device"`
	// QDev is the QOM path of the device the backend is attached to, e.g.
	// "/machine/peripheral/vd7/virtio-backend".
	QDev string `json:"qdev"`
	// NodeName is the backend's root node.
	NodeName string `json:"node-name"`
	Stats    struct {
		ReadBytes  uint64 `json:"rd_bytes"`
		WriteBytes uint64 `json:"wr_bytes"`
		Reads      uint64 `json:"rd_operations"`
		Writes     uint64 `json:"wr_operations"`
	} `json:"stats"`
}

// BlockStats returns the counters of every block backend (query-blockstats).
func (c *Client) BlockStats(ctx context.Context) ([]BlockStat, error) {
	var s []BlockStat
	err := c.Execute(ctx, "query-blockstats", nil, &s)
	return s, err
}
