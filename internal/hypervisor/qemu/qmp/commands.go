package qmp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrNoFreeCPUSlot is returned by HotplugCPU when every possible vCPU is present.
var ErrNoFreeCPUSlot = errors.New("no free cpu slot")

// StatusInfo is the reply of query-status.
type StatusInfo struct {
	// Status is QEMU's run state: "prelaunch", "running", "paused", "shutdown", …
	Status string `json:"status"`
	// Running is true when the vCPUs run.
	Running bool `json:"running"`
}

// Status returns the VM run state (query-status).
func (c *Client) Status(ctx context.Context) (StatusInfo, error) {
	var s StatusInfo
	err := c.Execute(ctx, "query-status", nil, &s)
	return s, err
}

// Cont starts or resumes the vCPUs (cont).
func (c *Client) Cont(ctx context.Context) error { return c.Execute(ctx, "cont", nil, nil) }

// Stop pauses the vCPUs (stop).
func (c *Client) Stop(ctx context.Context) error { return c.Execute(ctx, "stop", nil, nil) }

// SystemReset resets the machine (system_reset).
func (c *Client) SystemReset(ctx context.Context) error {
	return c.Execute(ctx, "system_reset", nil, nil)
}

// SystemPowerdown presses the ACPI power button (system_powerdown). The guest may
// ignore it: callers wait for SHUTDOWN or Done with a deadline, then Quit.
func (c *Client) SystemPowerdown(ctx context.Context) error {
	return c.Execute(ctx, "system_powerdown", nil, nil)
}

// Quit stops QEMU at once (quit) and waits until it closes the socket.
func (c *Client) Quit(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	// QEMU may exit before its reply is read: the end of the connection is success.
	if err := c.Execute(ctx, "quit", nil, nil); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("qmp quit: wait for qemu to exit: %w", ctx.Err())
	}
}

// MemorySizeSummary is the reply of query-memory-size-summary.
type MemorySizeSummary struct {
	// BaseMemory is the boot RAM (-m) in bytes.
	BaseMemory int64 `json:"base-memory"`
	// PluggedMemory is the hotplugged RAM (DIMMs, virtio-mem) in bytes.
	PluggedMemory int64 `json:"plugged-memory"`
}

// MemorySizeSummary returns base and hotplugged RAM (query-memory-size-summary).
func (c *Client) MemorySizeSummary(ctx context.Context) (MemorySizeSummary, error) {
	var m MemorySizeSummary
	err := c.Execute(ctx, "query-memory-size-summary", nil, &m)
	return m, err
}

// MemoryDevice is one entry of query-memory-devices.
type MemoryDevice struct {
	// Type is "dimm", "nvdimm", "virtio-mem", …
	Type string `json:"type"`
	// Data holds the fields common to DIMMs and virtio-mem devices.
	Data struct {
		ID         string `json:"id"`
		Addr       int64  `json:"addr"`
		Size       int64  `json:"size"`
		Slot       int    `json:"slot"`
		Memdev     string `json:"memdev"`
		Hotplugged bool   `json:"hotplugged"`
	} `json:"data"`
}

// MemoryDevices lists the memory devices (query-memory-devices).
func (c *Client) MemoryDevices(ctx context.Context) ([]MemoryDevice, error) {
	var d []MemoryDevice
	err := c.Execute(ctx, "query-memory-devices", nil, &d)
	return d, err
}

// MemoryBackendID is the id of the memory-backend-ram object behind the DIMM id.
func MemoryBackendID(dimmID string) string { return dimmID + "-mem" }

// HotplugMemory adds size bytes of RAM as a pc-dimm device called id, backed by the
// memory-backend-ram object MemoryBackendID(id). The machine needs free slots and
// maxmem room (-m N,slots=S,maxmem=M). If device_add fails, the backend is deleted.
func (c *Client) HotplugMemory(ctx context.Context, id string, size int64) error {
	if id == "" || size <= 0 {
		return fmt.Errorf("hotplug memory %q: invalid id or size %d", id, size)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	memdev := MemoryBackendID(id)
	err := c.Execute(ctx, "object-add", map[string]any{
		"qom-type": "memory-backend-ram", "id": memdev, "size": size,
	}, nil)
	if err != nil {
		return fmt.Errorf("hotplug memory %s: %w", id, err)
	}
	err = c.DeviceAdd(ctx, map[string]any{"driver": "pc-dimm", "id": id, "memdev": memdev})
	if err != nil {
		if derr := c.ObjectDel(ctx, memdev); derr != nil {
			return fmt.Errorf("hotplug memory %s: %w (and rollback: %w)", id, err, derr)
		}
		return fmt.Errorf("hotplug memory %s: %w", id, err)
	}
	return nil
}

// UnplugMemory removes the DIMM id added by HotplugMemory, waiting for DEVICE_DELETED
// (the guest must offline the memory), then deletes its backend.
func (c *Client) UnplugMemory(ctx context.Context, id string) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.DeviceDel(ctx, id); err != nil {
		return fmt.Errorf("unplug memory %s: %w", id, err)
	}
	if err := c.ObjectDel(ctx, MemoryBackendID(id)); err != nil {
		return fmt.Errorf("unplug memory %s: %w", id, err)
	}
	return nil
}

// ObjectDel deletes a QOM object created with object-add (object-del).
func (c *Client) ObjectDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "object-del", map[string]any{"id": id}, nil)
}

// HotpluggableCPU is one possible vCPU from query-hotpluggable-cpus.
type HotpluggableCPU struct {
	// Type is the device driver to pass to device_add, e.g. "qemu64-x86_64-cpu".
	Type string `json:"type"`
	// VCPUsCount is the number of vCPUs the device provides.
	VCPUsCount int `json:"vcpus-count"`
	// Props are the topology properties (socket-id, core-id, thread-id, …) to pass as-is.
	Props map[string]int64 `json:"props"`
	// QOMPath is the path of the plugged device, "" when the slot is free.
	QOMPath string `json:"qom-path"`
}

// HotpluggableCPUs lists every possible vCPU, plugged or not (query-hotpluggable-cpus).
func (c *Client) HotpluggableCPUs(ctx context.Context) ([]HotpluggableCPU, error) {
	var cpus []HotpluggableCPU
	err := c.Execute(ctx, "query-hotpluggable-cpus", nil, &cpus)
	return cpus, err
}

// HotplugCPU plugs a vCPU device called id into the lowest free slot listed by
// query-hotpluggable-cpus (QEMU lists them highest first), passing that slot's type
// and props unchanged. It returns the slot used, or ErrNoFreeCPUSlot. The guest
// still has to online the new CPU.
func (c *Client) HotplugCPU(ctx context.Context, id string) (HotpluggableCPU, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cpus, err := c.HotpluggableCPUs(ctx)
	if err != nil {
		return HotpluggableCPU{}, fmt.Errorf("hotplug cpu %s: %w", id, err)
	}
	var free []HotpluggableCPU
	for _, cpu := range cpus {
		if cpu.QOMPath == "" {
			free = append(free, cpu)
		}
	}
	if len(free) == 0 {
		return HotpluggableCPU{}, fmt.Errorf("hotplug cpu %s: %w", id, ErrNoFreeCPUSlot)
	}
	// Topology properties from the most to the least significant.
	order := []string{"drawer-id", "book-id", "socket-id", "die-id", "cluster-id", "core-id", "thread-id"}
	slot := slices.MinFunc(free, func(a, b HotpluggableCPU) int {
		for _, k := range order {
			if r := cmp.Compare(a.Props[k], b.Props[k]); r != 0 {
				return r
			}
		}
		return 0
	})
	args := map[string]any{"driver": slot.Type, "id": id}
	for k, v := range slot.Props {
		args[k] = v
	}
	if err := c.DeviceAdd(ctx, args); err != nil {
		return HotpluggableCPU{}, fmt.Errorf("hotplug cpu %s: %w", id, err)
	}
	return slot, nil
}

// CPUInfo is one entry of query-cpus-fast.
type CPUInfo struct {
	// CPUIndex is QEMU's vCPU index.
	CPUIndex int `json:"cpu-index"`
	// QOMPath is the vCPU device path.
	QOMPath string `json:"qom-path"`
	// ThreadID is the host thread running the vCPU.
	ThreadID int `json:"thread-id"`
	// Props are the vCPU topology properties.
	Props map[string]int64 `json:"props"`
}

// CPUs lists the present vCPUs (query-cpus-fast).
func (c *Client) CPUs(ctx context.Context) ([]CPUInfo, error) {
	var cpus []CPUInfo
	err := c.Execute(ctx, "query-cpus-fast", nil, &cpus)
	return cpus, err
}

// CPUCount returns the number of present vCPUs (query-cpus-fast).
func (c *Client) CPUCount(ctx context.Context) (int, error) {
	cpus, err := c.CPUs(ctx)
	return len(cpus), err
}
