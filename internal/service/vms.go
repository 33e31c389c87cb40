package service

import (
	"context"
	"errors"
	"math/bits"
	"regexp"
	"slices"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// VMSpec is what vm.create and vm.create_from ask for.
type VMSpec struct {
	DatacenterID int64
	Hostname     string
	Memory       int64
	Cores        int64
	IPVersion    int64 // 0 means absent: 4 (D1)
	Bandwidth    float64
	IfaceID      int64
	SysDiskID    int64
	Login        string
	Password     string
	SSHKey       string
	Keys         []int64
	Run          string
	Script       string
	ScriptArgs   string
	Farm         string
	AIActive     int64
	Description  string
}

// VMUpdate is what vm.update asks for; nil fields are unchanged.
type VMUpdate = ops.VMUpdateSpec

// MaxMemoryChoices are the accepted vm_max_memory values (D13).
var MaxMemoryChoices = []int64{2048, 4096, 8192, 16384, 24576}

// DefaultMaxMemory is max(2048, the next power of two ≥ memory) (D13).
func DefaultMaxMemory(memory int64) int64 {
	if memory <= 2048 {
		return 2048
	}
	return 1 << bits.Len64(uint64(memory-1))
}

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// VMList lists the caller's VMs.
func (s *Service) VMList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.VM, error) {
	list, err := listOf(s, ctx, c, o, store.Tx.VMs, func(v *store.VM) api.VM { return v.VM })
	if err != nil || len(list) == 0 {
		return list, err
	}
	err = s.st.Read(ctx, func(tx store.Tx) error {
		migrating, err := migratingVMs(tx, c.AccountID)
		for i := range list {
			list[i].Migrating = migrating[list[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return list, nil
}

// VMCount counts the caller's VMs.
func (s *Service) VMCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountVMs)
}

// VMDetail is a VM with its disks and ifaces (with their IPs).
type VMDetail struct {
	VM     api.VM
	Disks  []api.Disk
	Ifaces []IfaceDetail
}

// IfaceDetail is an iface with its IPs.
type IfaceDetail struct {
	Iface api.Iface
	IPs   []api.IP
}

// VMInfo returns one VM with its disks and ifaces.
func (s *Service) VMInfo(ctx context.Context, c *Caller, id int64) (*VMDetail, error) {
	var out VMDetail
	err := s.st.Read(ctx, func(tx store.Tx) error {
		d, err := tx.VMDetail(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjVM, id)
		}
		out.VM = d.VM.VM
		op, err := pendingMigration(tx, id)
		if err != nil {
			return err
		}
		out.VM.Migrating = op != nil
		for _, x := range d.Disks {
			x.Migrating = out.VM.Migrating
			out.Disks = append(out.Disks, x.Disk)
		}
		for _, f := range d.Ifaces {
			fd := IfaceDetail{Iface: f.Iface}
			for _, ip := range d.IPs[f.ID] {
				fd.IPs = append(fd.IPs, ip.IP)
			}
			out.Ifaces = append(out.Ifaces, fd)
		}
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

func (s *Service) checkVMSpec(tx store.Tx, c *Caller, v *VMSpec) error {
	if v.DatacenterID == 0 {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: datacenter_id is required")
	}
	if err := s.dcOpen(tx, c, v.DatacenterID); err != nil {
		return err
	}
	if !hostnameRE.MatchString(v.Hostname) {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: hostname %q is not a valid host name", truncate(v.Hostname, 70))
	}
	if v.Memory == 0 {
		v.Memory = 256
	}
	if v.Memory < 128 || v.Memory > 24576 {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: memory %d MB is not between 128 and 24576", v.Memory)
	}
	if v.Cores == 0 {
		v.Cores = 1
	}
	if v.Cores < 1 || v.Cores > s.cfg.MaxCores {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: cores %d is not between 1 and %d", v.Cores, s.cfg.MaxCores)
	}
	if v.IPVersion != 0 && v.IPVersion != 4 && v.IPVersion != 6 {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: ip_version %d is not 4 or 6", v.IPVersion)
	}
	if v.Password != "" && (len(v.Password) < 8 || len(v.Password) > 128) {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: password must have 8 to 128 characters")
	}
	if v.Login != "" && !loginRE.MatchString(v.Login) {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: login %q is not a valid user name", truncate(v.Login, 40))
	}
	if v.Farm == "" {
		v.Farm = "default"
	}
	n, err := tx.CountVMs(store.Query{Scope: c.AccountID, Filters: []api.Filter{{Field: "hostname", Values: []any{v.Hostname}}}})
	if err != nil {
		return err
	}
	if n > 0 {
		return api.Errorf(api.Conflict, api.ObjVM, "vm_spec: hostname %s is already used by another vm", v.Hostname)
	}
	return nil
}

var loginRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// firstBoot resolves the keys of a spec into the seed data.
func (s *Service) firstBoot(tx store.Tx, c *Caller, v *VMSpec) (ops.FirstBoot, error) {
	fb := ops.FirstBoot{Hostname: v.Hostname, Password: v.Password, Login: v.Login, Run: v.Run, Script: v.Script, ScriptArgs: v.ScriptArgs}
	if v.SSHKey != "" {
		if _, err := fingerprint(v.SSHKey); err != nil {
			return fb, api.Errorf(api.Invalid, api.ObjVM, "vm_spec: ssh_key: %v", err)
		}
		fb.SSHKeys = append(fb.SSHKeys, v.SSHKey)
	}
	for _, id := range v.Keys {
		k, err := tx.SSHKey(c.AccountID, id)
		if err != nil {
			return fb, notFound(err, api.ObjSSHKey, id)
		}
		fb.SSHKeys = append(fb.SSHKeys, k.Value)
	}
	return fb, nil
}

// VMCreate creates a VM on an existing disk (sys_disk_id) and returns [iface_create,
// vm_create], or [vm_create] when iface_id is given (D1).
func (s *Service) VMCreate(ctx context.Context, c *Caller, v VMSpec) ([]api.Operation, error) {
	return s.createVM(ctx, c, v, nil, 0)
}

// VMCreateFrom creates a disk from src, then a VM on it: [disk_create, iface_create,
// vm_create], or [disk_create, vm_create] when iface_id is given (D1).
func (s *Service) VMCreateFrom(ctx context.Context, c *Caller, v VMSpec, d DiskSpec, src int64) ([]api.Operation, error) {
	return s.createVM(ctx, c, v, &d, src)
}

func (s *Service) createVM(ctx context.Context, c *Caller, v VMSpec, ds *DiskSpec, src int64) ([]api.Operation, error) {
	var result []api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if err := s.requireCredit(tx, c); err != nil {
			return err
		}
		if err := s.checkVMSpec(tx, c, &v); err != nil {
			return err
		}
		fb, err := s.firstBoot(tx, c, &v)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		host, err := s.vmHost(tx, c, &v, ds, src)
		if err != nil {
			return err
		}
		vm := &store.VM{AccountID: c.AccountID, Host: host, VM: api.VM{
			DatacenterID: v.DatacenterID, Hostname: v.Hostname, State: api.VMBeingCreated,
			Memory: v.Memory, MaxMemory: DefaultMaxMemory(v.Memory), Cores: v.Cores, MaxCores: s.cfg.MaxCores,
			AIActive: v.AIActive, Farm: v.Farm, Description: v.Description, EntityID: entityID(), Created: now, Updated: now,
		}, BootMemory: v.Memory}
		if err := tx.InsertVM(vm); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return api.Errorf(api.Conflict, api.ObjVM, "vm_spec: hostname %s is already used by another vm", v.Hostname)
			}
			return err
		}
		var ops_ []*store.Operation
		// The system disk.
		var disk *store.Disk
		if ds != nil {
			if ds.DatacenterID == 0 {
				ds.DatacenterID = v.DatacenterID
			}
			if ds.Name == "" {
				ds.Name = "sys_" + truncate(v.Hostname, 11)
				ds.Name = ds.Name[:min(len(ds.Name), 15)]
			}
			ds.Type = api.DiskData
			var op *store.Operation
			disk, op, err = s.newDiskFrom(tx, c, *ds, src)
			if err != nil {
				return err
			}
			if disk.Host != host {
				disk.Host, op.Queue = host, HostQueue(host)
			}
			op.VMID = vm.ID
			ops_ = append(ops_, op)
		} else {
			if v.SysDiskID == 0 {
				return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: sys_disk_id is required")
			}
			disk, err = tx.Disk(c.AccountID, v.SysDiskID)
			if err != nil {
				return notFound(err, api.ObjDisk, v.SysDiskID)
			}
			if err := usableDisk(disk, v.DatacenterID); err != nil {
				return err
			}
		}
		if disk.DatacenterID != v.DatacenterID {
			return api.Errorf(api.Invalid, api.ObjDisk, "disk %d is not in datacenter %d", disk.ID, v.DatacenterID)
		}
		disk.VMID, disk.Position, disk.Updated = vm.ID, 0, now
		if err := tx.UpdateDisk(disk); err != nil {
			return err
		}
		// The first iface.
		var iface *store.Iface
		if v.IfaceID != 0 {
			iface, err = tx.Iface(c.AccountID, v.IfaceID)
			if err != nil {
				return notFound(err, api.ObjIface, v.IfaceID)
			}
			if iface.VMID != 0 {
				return api.Errorf(api.Conflict, api.ObjIface, "iface %d is attached to vm %d", iface.ID, iface.VMID)
			}
			if iface.DatacenterID != v.DatacenterID {
				return api.Errorf(api.Invalid, api.ObjIface, "iface %d is not in datacenter %d", iface.ID, v.DatacenterID)
			}
		} else {
			ipv := v.IPVersion
			if ipv == 0 {
				ipv = 4
			}
			bw := v.Bandwidth
			if bw <= 0 {
				bw = s.cfg.DefaultBandwidth
			}
			var op *store.Operation
			iface, op, err = s.newIface(tx, c, IfaceSpec{DatacenterID: v.DatacenterID, IPVersion: ipv, Bandwidth: bw})
			if err != nil {
				return err
			}
			op.VMID = vm.ID
			ops_ = append(ops_, op)
		}
		iface.VMID, iface.Num, iface.State, iface.Updated = vm.ID, 0, api.IfaceUsed, now
		if err := tx.UpdateIface(iface); err != nil {
			return err
		}
		op, err := s.newOp(c, ops.VMCreate, ops.VMCreateSpec{FirstBoot: fb})
		if err != nil {
			return err
		}
		op.VMID, op.DiskID, op.IfaceID, op.DatacenterID, op.Queue = vm.ID, disk.ID, iface.ID, v.DatacenterID, HostQueue(host)
		ops_ = append(ops_, op)
		for _, o := range ops_ {
			if err := s.submit(ctx, tx, o); err != nil {
				return err
			}
			result = append(result, o.Operation)
		}
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return result, nil
}

// usableDisk checks that a disk can become a VM's system disk.
func usableDisk(d *store.Disk, dc int64) error {
	if d.VMID != 0 {
		return api.Errorf(api.Attached, api.ObjDisk, "disk %d is attached to vm %d", d.ID, d.VMID)
	}
	if d.Type == api.DiskSnapshot {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk %d is a snapshot", d.ID)
	}
	return nil
}

// vmOp is the common path of calls that queue one operation on an existing VM.
func (s *Service) vmOp(ctx context.Context, c *Caller, id int64, typ string, spec any, check func(tx store.Tx, v *store.VM) error) (*api.Operation, error) {
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		v, err := tx.VM(c.AccountID, id)
		if err != nil {
			return nil, notFound(err, api.ObjVM, id)
		}
		if check != nil {
			if err := check(tx, v); err != nil {
				return nil, err
			}
		}
		if err := notMigrating(tx, v); err != nil { // its operations would wait for the migration's end
			return nil, err
		}
		op, err := s.newOp(c, typ, spec)
		if err != nil {
			return nil, err
		}
		op.VMID, op.DatacenterID = v.ID, v.DatacenterID
		return op, onHost(tx, op, v.Host, api.ObjVM, v.ID)
	})
}

// vmHost chooses the host of a new VM: where its system disk lives when it exists (or is
// copied from a user's disk), else by placement.
func (s *Service) vmHost(tx store.Tx, c *Caller, v *VMSpec, ds *DiskSpec, src int64) (string, error) {
	disk := v.SysDiskID
	if ds != nil {
		disk = src
	}
	if disk != 0 {
		d, err := sourceDisk(tx, c, disk)
		if err == nil && d.Host != "" {
			return d.Host, hostUp(tx, d.Host, api.ObjDisk, d.ID)
		}
	}
	size := int64(0)
	if ds != nil {
		size = max(ds.Size, DefaultDiskMB)
	}
	return s.place(tx, v.DatacenterID, v.Memory, size)
}

// VMStart starts a halted VM.
func (s *Service) VMStart(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.vmOp(ctx, c, id, ops.VMStart, struct{}{}, func(tx store.Tx, v *store.VM) error {
		if v.State == api.VMRunning {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is already running", v.ID)
		}
		if err := s.requireCredit(tx, c); err != nil {
			return err // a VM stopped for want of credits stays stopped
		}
		return bootable(tx, v)
	})
}

// bootable checks that a VM has a boot disk.
func bootable(tx store.Tx, v *store.VM) error {
	disks, err := tx.DisksOfVM(v.ID)
	if err != nil {
		return err
	}
	if len(disks) == 0 {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d has no disk to boot from", v.ID)
	}
	return nil
}

// VMStop stops a running VM.
func (s *Service) VMStop(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.vmOp(ctx, c, id, ops.VMStop, struct{}{}, func(_ store.Tx, v *store.VM) error {
		if v.State == api.VMHalted {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is already halted", v.ID)
		}
		return nil
	})
}

// VMReboot reboots a running VM.
func (s *Service) VMReboot(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.vmOp(ctx, c, id, ops.VMReboot, struct{}{}, func(tx store.Tx, v *store.VM) error {
		if v.State == api.VMHalted {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is halted: start it instead", v.ID)
		}
		return bootable(tx, v)
	})
}

// VMDelete deletes a halted VM, its boot disk and first iface, and detaches the rest.
func (s *Service) VMDelete(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.vmOp(ctx, c, id, ops.VMDelete, struct{}{}, func(_ store.Tx, v *store.VM) error {
		if v.State == api.VMRunning {
			return api.Errorf(api.Conflict, api.ObjVM, "vm %d is running: stop it first", v.ID)
		}
		return nil
	})
}

// VMUpdate changes memory, cores, vm_max_memory, console, hostname or password.
func (s *Service) VMUpdate(ctx context.Context, c *Caller, id int64, u VMUpdate) (*api.Operation, error) {
	return s.vmOp(ctx, c, id, ops.VMUpdate, u, func(tx store.Tx, v *store.VM) error {
		return s.checkVMUpdate(tx, c, v, &u)
	})
}

func (s *Service) checkVMUpdate(tx store.Tx, c *Caller, v *store.VM, u *VMUpdate) error {
	maxMem := v.MaxMemory
	if u.MaxMemory != nil {
		if !slices.Contains(MaxMemoryChoices, *u.MaxMemory) {
			return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: vm_max_memory %d is not one of 2048, 4096, 8192, 16384, 24576", *u.MaxMemory)
		}
		maxMem = *u.MaxMemory
	}
	mem := v.Memory
	if u.Memory != nil {
		mem = *u.Memory
		if mem < 128 {
			return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: memory %d MB is under 128", mem)
		}
	}
	if mem > maxMem {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: memory %d MB is over vm_max_memory %d MB: raise vm_max_memory in the same call (the vm reboots)", mem, maxMem)
	}
	if u.Memory != nil && *u.Memory < v.BootMemory && v.State == api.VMRunning {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: memory %d MB is under the %d MB the vm booted with: it can only shrink at a reboot with vm_max_memory", mem, v.BootMemory)
	}
	if u.Cores != nil && (*u.Cores < 1 || *u.Cores > s.cfg.MaxCores) {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: cores %d is not between 1 and %d", *u.Cores, s.cfg.MaxCores)
	}
	if u.Cores != nil && *u.Cores < v.Cores && v.State == api.VMRunning {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: cores can only grow on a running vm (%d now)", v.Cores)
	}
	if u.Hostname != nil && *u.Hostname != v.Hostname {
		if !hostnameRE.MatchString(*u.Hostname) {
			return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: hostname %q is not a valid host name", truncate(*u.Hostname, 70))
		}
		n, err := tx.CountVMs(store.Query{Scope: c.AccountID, Filters: []api.Filter{{Field: "hostname", Values: []any{*u.Hostname}}}})
		if err != nil {
			return err
		}
		if n > 0 {
			return api.Errorf(api.Conflict, api.ObjVM, "vm_spec: hostname %s is already used by another vm", *u.Hostname)
		}
	}
	if u.Password != nil && (len(*u.Password) < 8 || len(*u.Password) > 128) {
		return api.Errorf(api.Invalid, api.ObjVM, "vm_spec: password must have 8 to 128 characters")
	}
	return nil
}
