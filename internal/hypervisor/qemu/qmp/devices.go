package qmp

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// DeviceAdd adds a device (device_add). args holds "driver", usually "id", and the
// driver's properties, e.g. {"driver": "virtio-blk-pci", "id": "vdisk1", "drive": "data1"}.
func (c *Client) DeviceAdd(ctx context.Context, args map[string]any) error {
	if d, _ := args["driver"].(string); d == "" {
		return errors.New("qmp device_add: missing driver")
	}
	return c.Execute(ctx, "device_add", args, nil)
}

// DeviceDel asks QEMU to remove device id and waits for its DEVICE_DELETED event. It
// subscribes before sending device_del, so an event emitted before the reply (devices
// that QEMU removes at once, such as USB devices) is not missed. Most PCI, DIMM and CPU
// unplugs need the guest's cooperation: without a running guest OS that acknowledges
// the ACPI request, DeviceDel returns an error wrapping context.DeadlineExceeded when
// ctx (or the default timeout) expires, and the request stays pending inside QEMU.
func (c *Client) DeviceDel(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("qmp device_del: empty id")
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	x := c.Expect("DEVICE_DELETED", func(ev Event) bool { return ev.DataString("device") == id })
	defer x.Cancel()
	if err := c.Execute(ctx, "device_del", map[string]any{"id": id}, nil); err != nil {
		return err
	}
	if _, err := x.Wait(ctx); err != nil {
		return fmt.Errorf("qmp device_del %s: device not removed: %w", id, err)
	}
	return nil
}

// BlockdevAddQcow2 opens the qcow2 image at path (absolute) as block node node
// (blockdev-add), ready for device_add {"drive": node}. Backing files are opened
// read-only by QEMU as recorded in the image.
func (c *Client) BlockdevAddQcow2(ctx context.Context, node, path string, readOnly bool) error {
	if node == "" {
		return errors.New("qmp blockdev-add: empty node name")
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("qmp blockdev-add %s: path %q is not absolute", node, path)
	}
	return c.Execute(ctx, "blockdev-add", map[string]any{
		"driver":    "qcow2",
		"node-name": node,
		"read-only": readOnly,
		"file":      map[string]any{"driver": "file", "filename": path},
	}, nil)
}

// BlockdevDel closes block node node (blockdev-del). Its device must be gone first:
// DeviceDel waits for that.
func (c *Client) BlockdevDel(ctx context.Context, node string) error {
	return c.Execute(ctx, "blockdev-del", map[string]any{"node-name": node}, nil)
}

// BlockResize sets the virtual size of block node node to size bytes (block_resize),
// live. Shrinking is refused by qcow2.
func (c *Client) BlockResize(ctx context.Context, node string, size int64) error {
	return c.Execute(ctx, "block_resize", map[string]any{"node-name": node, "size": size}, nil)
}

// BlockNode is one entry of query-named-block-nodes.
type BlockNode struct {
	// NodeName is the block node name.
	NodeName string `json:"node-name"`
	// Driver is the format or protocol driver ("qcow2", "file", …).
	Driver string `json:"drv"`
	// File is the file name of the node.
	File string `json:"file"`
	// ReadOnly is true for a read-only node.
	ReadOnly bool `json:"ro"`
	// Image describes the image as seen by this node.
	Image struct {
		Filename    string `json:"filename"`
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	} `json:"image"`
}

// BlockNodes lists the top-level block nodes (query-named-block-nodes, flat).
func (c *Client) BlockNodes(ctx context.Context) ([]BlockNode, error) {
	var nodes []BlockNode
	err := c.Execute(ctx, "query-named-block-nodes", map[string]any{"flat": true}, &nodes)
	return nodes, err
}

// NetdevAdd adds a network backend (netdev_add). args holds "type", "id" and the
// backend's options, e.g. {"type": "tap", "id": "net1", "fd": "tapfd1"} after SendFD.
func (c *Client) NetdevAdd(ctx context.Context, args map[string]any) error {
	if t, _ := args["type"].(string); t == "" {
		return errors.New("qmp netdev_add: missing type")
	}
	if id, _ := args["id"].(string); id == "" {
		return errors.New("qmp netdev_add: missing id")
	}
	return c.Execute(ctx, "netdev_add", args, nil)
}

// NetdevDel removes network backend id (netdev_del); remove its NIC first.
func (c *Client) NetdevDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "netdev_del", map[string]any{"id": id}, nil)
}

// PCIDevice is one PCI function from query-pci.
type PCIDevice struct {
	// Bus, Slot and Function are the PCI address.
	Bus      int `json:"bus"`
	Slot     int `json:"slot"`
	Function int `json:"function"`
	// QdevID is the device id given to device_add or -device, "" for built-in devices.
	QdevID string `json:"qdev_id"`
	// ClassInfo is the PCI class.
	ClassInfo struct {
		Desc  string `json:"desc"`
		Class int    `json:"class"`
	} `json:"class_info"`
	// ID holds the vendor and device ids.
	ID struct {
		Vendor int `json:"vendor"`
		Device int `json:"device"`
	} `json:"id"`
}

// pciDeviceWire is a query-pci device, possibly a bridge with devices behind it.
type pciDeviceWire struct {
	PCIDevice
	PCIBridge *struct {
		Devices []pciDeviceWire `json:"devices"`
	} `json:"pci_bridge"`
}

// PCIDevices lists the PCI functions of every bus, behind bridges too (query-pci).
func (c *Client) PCIDevices(ctx context.Context) ([]PCIDevice, error) {
	var buses []struct {
		Devices []pciDeviceWire `json:"devices"`
	}
	if err := c.Execute(ctx, "query-pci", nil, &buses); err != nil {
		return nil, err
	}
	var out []PCIDevice
	var walk func([]pciDeviceWire)
	walk = func(devs []pciDeviceWire) {
		for _, d := range devs {
			out = append(out, d.PCIDevice)
			if d.PCIBridge != nil {
				walk(d.PCIBridge.Devices)
			}
		}
	}
	for _, b := range buses {
		walk(b.Devices)
	}
	return out, nil
}
