package qmp

import (
	"context"
	"strconv"
)

// QOMGet reads a QOM property (qom-get) into result.
func (c *Client) QOMGet(ctx context.Context, path, property string, result any) error {
	return c.Execute(ctx, "qom-get", map[string]any{"path": path, "property": property}, result)
}

// MigrateSetCapabilities turns migration capabilities on or off (migrate-set-capabilities).
func (c *Client) MigrateSetCapabilities(ctx context.Context, caps map[string]bool) error {
	list := make([]map[string]any, 0, len(caps))
	for k, v := range caps {
		list = append(list, map[string]any{"capability": k, "state": v})
	}
	return c.Execute(ctx, "migrate-set-capabilities", map[string]any{"capabilities": list}, nil)
}

// MigrateSetParameters sets migration parameters (migrate-set-parameters), e.g.
// {"max-bandwidth": 1<<30, "downtime-limit": 300}.
func (c *Client) MigrateSetParameters(ctx context.Context, params map[string]any) error {
	return c.Execute(ctx, "migrate-set-parameters", params, nil)
}

// Migrate starts an outgoing migration to uri (migrate).
func (c *Client) Migrate(ctx context.Context, uri string) error {
	return c.Execute(ctx, "migrate", map[string]any{"uri": uri}, nil)
}

// MigrateIncoming starts listening for an incoming migration (migrate-incoming) in a
// QEMU started with -incoming defer.
func (c *Client) MigrateIncoming(ctx context.Context, uri string) error {
	return c.Execute(ctx, "migrate-incoming", map[string]any{"uri": uri}, nil)
}

// MigrateCancel cancels the outgoing migration (migrate_cancel).
func (c *Client) MigrateCancel(ctx context.Context) error {
	return c.Execute(ctx, "migrate_cancel", nil, nil)
}

// MigrateContinue lets a migration paused in state (e.g. "pre-switchover") go on
// (migrate-continue).
func (c *Client) MigrateContinue(ctx context.Context, state string) error {
	return c.Execute(ctx, "migrate-continue", map[string]any{"state": state}, nil)
}

// AnnounceSelf makes QEMU announce the guest's MACs again (announce-self: RARP, or a
// gratuitous ARP asked of the guest by virtio-net), so that bridges and VXLAN forwarding
// tables point at the host the guest now runs on.
func (c *Client) AnnounceSelf(ctx context.Context) error {
	return c.Execute(ctx, "announce-self", map[string]any{"initial": 50, "max": 550, "rounds": 5, "step": 100}, nil)
}

// MigrationInfo is the reply of query-migrate (the fields Berth reads).
type MigrationInfo struct {
	// Status is "", "none", "setup", "active", "pre-switchover", "device", "completed",
	// "failed", "cancelling", "cancelled", …
	Status    string `json:"status"`
	TotalTime int64  `json:"total-time"` // ms
	Downtime  int64  `json:"downtime"`   // ms
	ErrorDesc string `json:"error-desc"`
	RAM       *struct {
		Transferred int64 `json:"transferred"`
		Remaining   int64 `json:"remaining"`
		Total       int64 `json:"total"`
	} `json:"ram"`
}

// QueryMigrate returns the state of the current or last migration (query-migrate).
func (c *Client) QueryMigrate(ctx context.Context) (MigrationInfo, error) {
	var m MigrationInfo
	err := c.Execute(ctx, "query-migrate", nil, &m)
	if m.Status == "" {
		m.Status = "none"
	}
	return m, err
}

// NBDServerStart starts QEMU's NBD server on host:port (nbd-server-start, whose addr
// is a legacy SocketAddress: {type, data}).
func (c *Client) NBDServerStart(ctx context.Context, host string, port int, extra map[string]any) error {
	args := map[string]any{"addr": map[string]any{"type": "inet", "data": map[string]any{"host": host, "port": strconv.Itoa(port)}}}
	for k, v := range extra {
		args[k] = v
	}
	return c.Execute(ctx, "nbd-server-start", args, nil)
}

// NBDServerStop stops the NBD server (nbd-server-stop).
func (c *Client) NBDServerStop(ctx context.Context) error {
	return c.Execute(ctx, "nbd-server-stop", nil, nil)
}

// BlockExportAddNBD exports block node node over the NBD server under the name node
// (block-export-add).
func (c *Client) BlockExportAddNBD(ctx context.Context, node string, writable bool) error {
	return c.Execute(ctx, "block-export-add", map[string]any{
		"type": "nbd", "id": node, "node-name": node, "name": node, "writable": writable,
	}, nil)
}

// BlockExportDel removes export id (block-export-del).
func (c *Client) BlockExportDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "block-export-del", map[string]any{"id": id}, nil)
}

// BlockExports lists the block exports' ids (query-block-exports).
func (c *Client) BlockExports(ctx context.Context) ([]string, error) {
	var list []struct {
		ID string `json:"id"`
	}
	if err := c.Execute(ctx, "query-block-exports", nil, &list); err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.ID
	}
	return ids, nil
}

// BlockdevAddNBD opens export on the NBD server host:port as block node node
// (blockdev-add).
func (c *Client) BlockdevAddNBD(ctx context.Context, node, host string, port int, export string, extra map[string]any) error {
	args := map[string]any{
		"driver": "nbd", "node-name": node, "export": export,
		"server": map[string]any{"type": "inet", "host": host, "port": strconv.Itoa(port)},
	}
	for k, v := range extra {
		args[k] = v
	}
	return c.Execute(ctx, "blockdev-add", args, nil)
}

// BlockdevMirror starts mirror job job from block node device into node target
// (blockdev-mirror) with sync "top" or "full" and copy-mode "write-blocking", so that
// guest writes reach the target before they complete once the job is in sync.
func (c *Client) BlockdevMirror(ctx context.Context, job, device, target, sync string) error {
	return c.Execute(ctx, "blockdev-mirror", map[string]any{
		"job-id": job, "device": device, "target": target, "sync": sync,
		"copy-mode": "write-blocking", "auto-finalize": true, "auto-dismiss": true,
	}, nil)
}

// BlockJob is one entry of query-block-jobs.
type BlockJob struct {
	Device string `json:"device"` // the job id
	Type   string `json:"type"`
	Len    int64  `json:"len"`
	Offset int64  `json:"offset"`
	Ready  bool   `json:"ready"`
	Status string `json:"status"` // "running", "ready", "concluded", …
}

// BlockJobs lists the block jobs (query-block-jobs).
func (c *Client) BlockJobs(ctx context.Context) ([]BlockJob, error) {
	var jobs []BlockJob
	err := c.Execute(ctx, "query-block-jobs", nil, &jobs)
	return jobs, err
}

// BlockJobCancel cancels job (block-job-cancel). A mirror in sync completes its copy
// without pivoting to its target; with force it stops at once.
func (c *Client) BlockJobCancel(ctx context.Context, job string, force bool) error {
	return c.Execute(ctx, "block-job-cancel", map[string]any{"device": job, "force": force}, nil)
}
