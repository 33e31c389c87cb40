// Package agent is the host side of operations: it turns an operation into driver calls
// (hypervisor, volume, netdev, seed), reading the desired state from the store, and it
// reconciles what the drivers really run with what the store says. It never writes the
// objects of the API: the service records the result of each operation.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/netdev"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/seed"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/volume"
)

// SeedNIC is one NIC's addresses in the first-boot data.
type SeedNIC = seed.NIC

// SeedAddr is one address of a NIC with its prefix length and gateway.
type SeedAddr = seed.Addr

// Seeder writes a VM's first-boot data and returns the path the hypervisor attaches.
type Seeder interface {
	Seed(ctx context.Context, vmID int64, instanceID string, fb seed.FirstBoot, nics []seed.NIC) (string, error)
	// Path is the data written at the VM's creation, "" when there is none.
	Path(vmID int64) string
	Remove(ctx context.Context, vmID int64) error
}

// NICUpdater is implemented by seeders that can rewrite a running VM's NIC data, so a
// NIC hot-plugged into the guest finds its addresses there.
type NICUpdater interface {
	UpdateNICs(ctx context.Context, vmID int64, nics []seed.NIC) error
}

// Kernels resolves a disk's kernel_version and cmdline into how the VM boots.
type Kernels func(name, cmdline string) hypervisor.Boot

// Networks says where an iface's tap goes.
type Networks interface {
	// Port returns the port of an iface, or ok=false when the iface has no network here.
	Port(f *store.Iface) (netdev.Port, bool)
	// Gateways returns the addresses a guest routes through for an IP, by pool.
	Gateway(ip *store.IP) (cidr string, gateway string)
	// VLANNetwork is the bridge of a VLAN.
	VLANNetwork(v *store.VLAN) netdev.Network
}

// Agent executes operations on one host.
type Agent struct {
	st      store.Store
	hv      hypervisor.Driver
	vol     volume.Driver
	net     netdev.Driver
	seed    Seeder
	kernels Kernels
	nets    Networks
	log     *slog.Logger

	fetch         DiskFetcher
	host          string
	migrationHost string
	capMu         sync.Mutex // held from a memory check to the change it allows
	memMB         int64
	overheadMB    int64
}

// Config wires an agent.
type Config struct {
	Store    store.Store
	HV       hypervisor.Driver
	Volumes  volume.Driver
	Net      netdev.Driver
	Seeder   Seeder // nil: no first-boot data (sim)
	Kernels  Kernels
	Networks Networks
	Logger   *slog.Logger
	// Host is the name of this host: the VMs it runs are those whose host it is.
	Host string
	// Disks fetches disks from the other hosts (nil: disks do not move between hosts).
	Disks DiskFetcher
	// MigrationHost is the address other hosts reach this one at for live migrations
	// (QEMU's migration stream and NBD exports): the host of the internal listener.
	MigrationHost string
	// MemoryMB is the host memory VMs may use (0: no limit); each running VM counts its
	// memory plus OverheadMB for its QEMU process.
	MemoryMB   int64
	OverheadMB int64
}

// New builds an agent.
func New(c Config) *Agent {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &Agent{st: c.Store, hv: c.HV, vol: c.Volumes, net: c.Net, seed: c.Seeder, kernels: c.Kernels, nets: c.Networks, log: c.Logger,
		memMB: c.MemoryMB, overheadMB: c.OverheadMB, host: c.Host, fetch: c.Disks, migrationHost: c.MigrationHost}
}

// view is what the agent reads of a VM before acting.
type view struct {
	vm     *store.VM
	disks  []*store.Disk
	ifaces []*store.Iface
	ips    map[int64][]*store.IP
}

func (a *Agent) load(ctx context.Context, vmID int64) (*view, error) {
	var v view
	err := a.st.Read(ctx, func(tx store.Tx) error {
		var err error
		if v.vm, err = tx.VM(store.AllAccounts, vmID); err != nil {
			return err
		}
		if v.disks, err = tx.DisksOfVM(vmID); err != nil {
			return err
		}
		if v.ifaces, err = tx.IfacesOfVM(vmID); err != nil {
			return err
		}
		v.ips = map[int64][]*store.IP{}
		for _, f := range v.ifaces {
			if v.ips[f.ID], err = tx.IPsOfIface(f.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load vm %d: %w", vmID, err)
	}
	return &v, nil
}

// TapName is the name of an iface's tap device.
func TapName(ifaceID int64) string { return fmt.Sprintf("bt%d", ifaceID) }

func (a *Agent) nic(f *store.Iface) hypervisor.NIC {
	n := hypervisor.NIC{ID: f.ID, MAC: ipam.MAC(f.ID).String()}
	if p, ok := a.nets.Port(f); ok {
		n.Tap, n.Namespace = p.Tap, p.Namespace
	}
	return n
}

func (a *Agent) disk(d *store.Disk) hypervisor.Disk {
	return hypervisor.Disk{ID: d.ID, Path: a.vol.Path(d.ID), ReadOnly: d.ReadOnly}
}

// spec is how the VM boots now: boot disk first, its kernel and cmdline.
func (a *Agent) spec(v *view, seed string) hypervisor.Spec {
	s := hypervisor.Spec{
		ID: v.vm.ID, Name: v.vm.Hostname, MemoryMB: v.vm.Memory, MaxMemMB: v.vm.MaxMemory,
		Cores: v.vm.Cores, MaxCores: v.vm.MaxCores, SeedPath: seed,
	}
	for _, d := range v.disks {
		s.Disks = append(s.Disks, a.disk(d))
	}
	for _, f := range v.ifaces {
		s.NICs = append(s.NICs, a.nic(f))
		if p, ok := a.nets.Port(f); ok && s.Namespace == "" {
			s.Namespace = p.Namespace
		}
	}
	if len(v.disks) > 0 {
		s.Boot = a.kernels(v.disks[0].KernelVersion, v.disks[0].KernelCmdline)
	}
	return s
}

// ensurePorts creates the taps of a VM's ifaces.
func (a *Agent) ensurePorts(ctx context.Context, v *view) error {
	for _, f := range v.ifaces {
		if p, ok := a.nets.Port(f); ok {
			if err := a.net.EnsurePort(ctx, p); err != nil {
				return fmt.Errorf("iface %d: %w", f.ID, err)
			}
		}
	}
	return nil
}

// deletePorts removes the taps of a VM's ifaces.
func (a *Agent) deletePorts(ctx context.Context, v *view) error {
	for _, f := range v.ifaces {
		if p, ok := a.nets.Port(f); ok {
			if err := a.net.DeletePort(ctx, p); err != nil {
				return fmt.Errorf("iface %d: %w", f.ID, err)
			}
		}
	}
	return nil
}

func (a *Agent) seedNICs(v *view) []SeedNIC {
	var out []SeedNIC
	for _, f := range v.ifaces {
		n := SeedNIC{MAC: ipam.MAC(f.ID).String()}
		for _, ip := range v.ips[f.ID] {
			cidr, gw := a.nets.Gateway(ip)
			n.Addrs = append(n.Addrs, SeedAddr{CIDR: cidr, Gateway: gw})
		}
		out = append(out, n)
	}
	return out
}

// start boots a VM as the store describes it.
func (a *Agent) start(ctx context.Context, v *view, seed string) error {
	if err := a.ensurePorts(ctx, v); err != nil {
		return err
	}
	for _, d := range v.disks {
		if d.Host == "" { // an empty disk placed with its VM: made here
			if err := a.vol.Create(ctx, d.ID, d.Size); err != nil {
				return err
			}
		}
		ok, err := a.vol.Exists(ctx, d.ID)
		if err != nil {
			return err
		}
		if !ok {
			return api.Errorf(api.Conflict, api.ObjDisk, "disk %d has no data on this host", d.ID)
		}
	}
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if err := a.reserve(ctx, v.vm.ID, v.vm.Memory); err != nil {
		return err
	}
	return a.hv.Start(ctx, a.spec(v, seed))
}

func decode[T any](op *store.Operation) (T, error) {
	var v T
	err := json.Unmarshal(op.Spec, &v)
	return v, err
}

func (a *Agent) running(ctx context.Context, vmID int64) (bool, error) {
	st, err := a.hv.State(ctx, vmID)
	return st == hypervisor.Running, err
}

// Execute carries out the host work of one operation. Every branch is idempotent.
func (a *Agent) Execute(ctx context.Context, op *store.Operation) error {
	switch op.Type {
	case ops.VMCreate:
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		spec, err := decode[ops.VMCreateSpec](op)
		if err != nil {
			return err
		}
		seed := ""
		if a.seed != nil {
			if seed, err = a.seed.Seed(ctx, v.vm.ID, v.vm.EntityID, spec.FirstBoot, a.seedNICs(v)); err != nil {
				return fmt.Errorf("first-boot data: %w", err)
			}
		}
		return a.start(ctx, v, seed)
	case ops.VMStart:
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		return a.start(ctx, v, a.seedPath(ctx, op.VMID))
	case ops.VMStop:
		return a.hv.Stop(ctx, op.VMID)
	case ops.VMReboot:
		if err := a.hv.Stop(ctx, op.VMID); err != nil {
			return err
		}
		v, err := a.load(ctx, op.VMID)
		if err != nil {
			return err
		}
		return a.start(ctx, v, a.seedPath(ctx, op.VMID))
	case ops.VMUpdate:
		return a.vmUpdate(ctx, op)
	case ops.VMMigrate:
		return a.migrateVM(ctx, op)
	case ops.DiskMigrate:
		return a.migrateDisk(ctx, op)
	case ops.VMMove:
		return a.moveVM(ctx, op)
	case ops.VMDelete:
		return a.vmDelete(ctx, op)
	case ops.DiskCreate:
		spec, err := decode[ops.DiskCreateSpec](op)
		if err != nil {
			return err
		}
		var d *store.Disk
		if err := a.st.Read(ctx, func(tx store.Tx) error {
			d, err = tx.Disk(store.AllAccounts, op.DiskID)
			return err
		}); err != nil {
			return err
		}
		switch {
		case d.Host == "":
			return nil // placed later: created on the host of the first VM it is attached to
		case spec.Source == 0:
			err = a.vol.Create(ctx, d.ID, d.Size)
		case spec.Snapshot:
			err = a.snapshot(ctx, op, d.ID, spec.Source)
		default:
			err = a.vol.CreateFrom(ctx, d.ID, spec.Source, d.Size)
		}
		if errors.Is(err, volume.ErrNoSpace) {
			return api.Errorf(api.Unavailable, api.ObjDisk, "not enough disk space on the host for disk %d (%d MB)", d.ID, d.Size)
		}
		return err
	case ops.DiskUpdate:
		return a.diskUpdate(ctx, op)
	case ops.DiskDelete:
		return a.vol.Delete(ctx, op.DiskID)
	case ops.DiskRollback:
		spec, err := decode[ops.DiskRollbackSpec](op)
		if err != nil {
			return err
		}
		if err := a.st.Read(ctx, func(tx store.Tx) error {
			d, err := tx.Disk(store.AllAccounts, op.DiskID)
			if err == nil && d.Host == "" {
				spec.Snapshot = 0 // an unplaced disk and its snapshot hold nothing
			}
			return err
		}); err != nil || spec.Snapshot == 0 {
			return err
		}
		return a.vol.Rollback(ctx, op.DiskID, spec.Snapshot)
	case ops.DiskAttach, ops.DiskDetach:
		return a.diskAttach(ctx, op)
	case ops.IfaceAttach, ops.IfaceDetach, ops.IfaceUpdate, ops.IfaceDelete:
		return a.ifaceOp(ctx, op)
	case ops.VLANCreate, ops.VLANDelete:
		var v *store.VLAN
		if err := a.st.Read(ctx, func(tx store.Tx) error {
			var err error
			v, err = tx.VLAN(store.AllAccounts, op.VLANID)
			return err
		}); err != nil {
			return err
		}
		if op.Type == ops.VLANCreate {
			return a.net.EnsureNetwork(ctx, a.nets.VLANNetwork(v))
		}
		return a.net.DeleteNetwork(ctx, a.nets.VLANNetwork(v))
	case ops.IfaceCreate, ops.IPUpdate, ops.VLANUpdate, ops.AccountCredit:
		return nil // nothing on the host: addresses reach guests with their iface
	}
	return fmt.Errorf("unknown operation type %q", op.Type)
}

func (a *Agent) seedPath(_ context.Context, vmID int64) string {
	if a.seed == nil {
		return ""
	}
	return a.seed.Path(vmID)
}
