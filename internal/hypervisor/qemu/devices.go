package qemu

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/hypervisor/qemu/qmp"
)

// hasPCIDevice reports whether a PCI device with qdev id exists.
func hasPCIDevice(ctx context.Context, c *qmp.Client, id string) (bool, error) {
	devs, err := c.PCIDevices(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(devs, func(p qmp.PCIDevice) bool { return p.QdevID == id }), nil
}

// blockNode returns the block node called name, if any.
func blockNode(ctx context.Context, c *qmp.Client, name string) (qmp.BlockNode, bool, error) {
	nodes, err := c.BlockNodes(ctx)
	if err != nil {
		return qmp.BlockNode{}, false, err
	}
	i := slices.IndexFunc(nodes, func(n qmp.BlockNode) bool { return n.NodeName == name })
	if i < 0 {
		return qmp.BlockNode{}, false, nil
	}
	return nodes[i], true, nil
}

// AttachDisk implements hypervisor.Driver: the qcow2 image becomes block node d<ID>
// and virtio-blk device vd<ID> with serial berth-<ID> (the guest names it by probe
// order: the next free /dev/vdX).
func (d *Driver) AttachDisk(ctx context.Context, id int64, disk hypervisor.Disk) error {
	return d.hotplug(ctx, id, "attach disk to", gpePCI, func(ctx context.Context, _ *vm, c *qmp.Client) error {
		if disk.ID <= 0 || !filepath.IsAbs(disk.Path) {
			return fmt.Errorf("disk %d: invalid id or non-absolute path %q", disk.ID, disk.Path)
		}
		node, dev := diskNode(disk.ID), diskDevice(disk.ID)
		if ok, err := hasPCIDevice(ctx, c, dev); err != nil || ok {
			return err
		}
		n, ok, err := blockNode(ctx, c, node)
		if err != nil {
			return err
		}
		if ok && (n.File != disk.Path || n.ReadOnly != disk.ReadOnly) {
			// Left by an earlier, interrupted attach of another image: replace it.
			if err := c.BlockdevDel(ctx, node); err != nil {
				return fmt.Errorf("disk %d: remove stale block node: %w", disk.ID, err)
			}
			ok = false
		}
		if !ok {
			if err := c.BlockdevAddQcow2(ctx, node, disk.Path, disk.ReadOnly); err != nil {
				return fmt.Errorf("disk %d: %w", disk.ID, err)
			}
		}
		err = c.DeviceAdd(ctx, map[string]any{
			"driver": "virtio-blk-pci", "id": dev, "drive": node, "serial": diskSerial(disk.ID),
		})
		if err != nil {
			if derr := c.BlockdevDel(ctx, node); derr != nil {
				return fmt.Errorf("disk %d: %w (and removing its block node: %w)", disk.ID, err, derr)
			}
			return fmt.Errorf("disk %d: %w", disk.ID, err)
		}
		d.log.Info("disk attached", "vm", id, "disk", disk.ID, "path", disk.Path)
		return nil
	})
}

// DetachDisk implements hypervisor.Driver: once the guest is ready for hotplug,
// device_del (repeated) until the guest released the device (DEVICE_DELETED), then
// blockdev-del. If the guest does not release it, the disk stays attached.
func (d *Driver) DetachDisk(ctx context.Context, id int64, diskID int64) error {
	return d.hotplug(ctx, id, "detach disk from", gpePCI, func(ctx context.Context, _ *vm, c *qmp.Client) error {
		node, dev := diskNode(diskID), diskDevice(diskID)
		ok, err := hasPCIDevice(ctx, c, dev)
		if err != nil {
			return err
		}
		if ok {
			if err := unplug(ctx, c, dev, gpePCI); err != nil {
				return fmt.Errorf("disk %d: %w", diskID, err)
			}
		}
		_, hasNode, err := blockNode(ctx, c, node)
		if err != nil {
			return err
		}
		if hasNode {
			if err := c.BlockdevDel(ctx, node); err != nil {
				return fmt.Errorf("disk %d: %w", diskID, err)
			}
		}
		if ok || hasNode {
			d.log.Info("disk detached", "vm", id, "disk", diskID)
		}
		return nil
	})
}

// ResizeDisk implements hypervisor.Driver: block_resize of node d<ID> to sizeMB MiB,
// which also grows the qcow2 image. Asking for the current size does nothing; a
// smaller size is refused.
func (d *Driver) ResizeDisk(ctx context.Context, id int64, diskID int64, sizeMB int64) error {
	return d.live(ctx, id, "resize disk of", func(ctx context.Context, _ *vm, c *qmp.Client) error {
		n, ok, err := blockNode(ctx, c, diskNode(diskID))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("disk %d is not attached", diskID)
		}
		size := sizeMB << 20
		switch cur := n.Image.VirtualSize; {
		case size == cur:
			return nil
		case size < cur:
			return fmt.Errorf("disk %d: cannot shrink from %d to %d MiB", diskID, cur>>20, sizeMB)
		}
		if err := c.BlockResize(ctx, diskNode(diskID), size); err != nil {
			return fmt.Errorf("disk %d: %w", diskID, err)
		}
		d.log.Info("disk resized", "vm", id, "disk", diskID, "size_mb", sizeMB)
		return nil
	})
}

// AttachNIC implements hypervisor.Driver: the tap is opened in the namespace of the
// VM's last Start (spec.json), passed to QEMU (getfd), and becomes netdev n<ID> and
// virtio-net device nic<ID>. A NIC without a tap is skipped.
func (d *Driver) AttachNIC(ctx context.Context, id int64, n hypervisor.NIC) error {
	return d.hotplug(ctx, id, "attach nic to", gpePCI, func(ctx context.Context, v *vm, c *qmp.Client) error {
		mac, err := parseMAC(n.MAC)
		if err != nil || n.ID <= 0 {
			return fmt.Errorf("nic %d: invalid id or mac %q", n.ID, n.MAC)
		}
		if n.Tap == "" {
			d.log.Warn("nic without a tap gets no backend", "vm", id, "nic", n.ID)
			return nil
		}
		if d.cfg.OpenTap == nil {
			return fmt.Errorf("nic %d has tap %s but the driver has no OpenTap", n.ID, n.Tap)
		}
		netdev, dev, fdName := nicNetdev(n.ID), nicDevice(n.ID), nicFDName(n.ID)
		if ok, err := hasPCIDevice(ctx, c, dev); err != nil || ok {
			return err
		}
		// A backend left by an interrupted attach or detach may hold an old tap fd.
		if err := c.NetdevDel(ctx, netdev); err != nil && !isQMPError(err, "DeviceNotFound") {
			return fmt.Errorf("nic %d: remove stale backend: %w", n.ID, err)
		}
		ns := n.Namespace
		if ns == "" {
			spec, err := readSpec(v.dir)
			if err != nil {
				return err
			}
			ns = spec.Namespace
		}
		f, err := d.cfg.OpenTap(ns, n.Tap)
		if err != nil {
			return fmt.Errorf("nic %d: open tap %s in netns %q: %w", n.ID, n.Tap, ns, err)
		}
		err = c.SendFD(ctx, fdName, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("nic %d: %w", n.ID, err)
		}
		err = c.NetdevAdd(ctx, map[string]any{"type": "tap", "id": netdev, "fd": fdName, "vhost": false})
		if err != nil {
			_ = c.CloseFD(ctx, fdName)
			return fmt.Errorf("nic %d: %w", n.ID, err)
		}
		err = c.DeviceAdd(ctx, map[string]any{"driver": "virtio-net-pci", "id": dev, "netdev": netdev, "mac": mac})
		if err != nil {
			if derr := c.NetdevDel(ctx, netdev); derr != nil {
				return fmt.Errorf("nic %d: %w (and removing its backend: %w)", n.ID, err, derr)
			}
			return fmt.Errorf("nic %d: %w", n.ID, err)
		}
		d.log.Info("nic attached", "vm", id, "nic", n.ID, "tap", n.Tap, "mac", mac)
		return nil
	})
}

// DetachNIC implements hypervisor.Driver: device_del nic<ID> (waiting for the guest),
// then netdev_del n<ID>, which closes QEMU's tap fd. The tap itself stays.
func (d *Driver) DetachNIC(ctx context.Context, id int64, nicID int64) error {
	return d.hotplug(ctx, id, "detach nic from", gpePCI, func(ctx context.Context, _ *vm, c *qmp.Client) error {
		ok, err := hasPCIDevice(ctx, c, nicDevice(nicID))
		if err != nil {
			return err
		}
		if ok {
			if err := unplug(ctx, c, nicDevice(nicID), gpePCI); err != nil {
				return fmt.Errorf("nic %d: %w", nicID, err)
			}
		}
		err = c.NetdevDel(ctx, nicNetdev(nicID))
		switch {
		case isQMPError(err, "DeviceNotFound"):
			if !ok {
				return nil // already detached
			}
		case err != nil:
			return fmt.Errorf("nic %d: %w", nicID, err)
		}
		d.log.Info("nic detached", "vm", id, "nic", nicID)
		return nil
	})
}
