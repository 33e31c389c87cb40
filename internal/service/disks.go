package service

import (
	"context"
	"fmt"
	"regexp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// DiskSpec is what disk.create and disk.create_from ask for.
type DiskSpec struct {
	DatacenterID    int64
	Name            string
	Size            int64 // MB; 0 means the default (or the source's size)
	Type            string
	SnapshotProfile int64
}

// DiskUpdate is what disk.update asks for.
type DiskUpdate = ops.DiskUpdateSpec

// Disk size limits, in MB.
const (
	MinDiskMB     = 1024
	MaxDiskMB     = 2 << 20
	DefaultDiskMB = 3072
)

var diskNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`)

// DiskList lists the caller's disks.
func (s *Service) DiskList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.Disk, error) {
	return listOf(s, ctx, c, o, store.Tx.Disks, func(d *store.Disk) api.Disk { return d.Disk })
}

// DiskCount counts the caller's disks.
func (s *Service) DiskCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountDisks)
}

// DiskInfo returns one disk.
func (s *Service) DiskInfo(ctx context.Context, c *Caller, id int64) (*api.Disk, error) {
	var out api.Disk
	err := s.st.Read(ctx, func(tx store.Tx) error {
		d, err := tx.Disk(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjDisk, id)
		}
		out = d.Disk
		out.Migrating, err = diskMoving(tx, d)
		return err
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// sourceDisk returns a disk the caller may copy: its own, or an image's.
func sourceDisk(tx store.Tx, c *Caller, id int64) (*store.Disk, error) {
	d, err := tx.Disk(c.AccountID, id)
	if err == nil {
		return d, nil
	}
	d, err2 := tx.Disk(store.PublicAccount, id)
	if err2 == nil {
		return d, nil
	}
	return nil, notFound(err, api.ObjDisk, id)
}

func checkDiskSpec(d *DiskSpec, create bool) error {
	if d.Name != "" && !diskNameRE.MatchString(d.Name) {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: name %q may only hold letters, digits, '_', '.' and '-'", truncate(d.Name, 70))
	}
	if d.Size != 0 && (d.Size < MinDiskMB || d.Size > MaxDiskMB) {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: size %d MB is not between %d and %d", d.Size, MinDiskMB, MaxDiskMB)
	}
	if create && d.DatacenterID == 0 {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: datacenter_id is required")
	}
	switch d.Type {
	case "", api.DiskData, api.DiskSnapshot:
	default:
		return api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: type %q is not data or snapshot", d.Type)
	}
	if d.Type == api.DiskSnapshot && d.SnapshotProfile != 0 {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: a snapshot cannot have a snapshot_profile")
	}
	return checkProfile(d.SnapshotProfile)
}

// newDisk inserts a disk row being created, with its disk_create operation (not submitted).
func (s *Service) newDisk(tx store.Tx, c *Caller, d *store.Disk, spec ops.DiskCreateSpec) (*store.Operation, error) {
	now := s.now().UTC()
	d.AccountID, d.State, d.Visibility, d.EntityID, d.Created, d.Updated = c.AccountID, api.StateBeingCreated, "private", entityID(), now, now
	if d.Name == "" {
		d.Name = fmt.Sprintf("disk%d", now.UnixNano()%1e9)
	}
	if err := tx.InsertDisk(d); err != nil {
		return nil, err
	}
	op, err := s.newOp(c, ops.DiskCreate, spec)
	if err != nil {
		return nil, err
	}
	op.DiskID, op.DatacenterID = d.ID, d.DatacenterID
	if d.Host != "" {
		op.Queue = HostQueue(d.Host)
	}
	return op, nil
}

// newDiskFrom inserts a disk made from src (a copy, or a snapshot when spec.Type is
// snapshot), with its operation (not submitted).
func (s *Service) newDiskFrom(tx store.Tx, c *Caller, spec DiskSpec, src int64) (*store.Disk, *store.Operation, error) {
	if err := checkDiskSpec(&spec, false); err != nil {
		return nil, nil, err
	}
	sd, err := sourceDisk(tx, c, src)
	if err != nil {
		return nil, nil, err
	}
	if sd.State != api.StateCreated && sd.AccountID != store.PublicAccount && sd.State != api.StateBeingCreated {
		return nil, nil, api.Errorf(api.Conflict, api.ObjDisk, "disk %d is %s", sd.ID, sd.State)
	}
	if spec.DatacenterID == 0 {
		spec.DatacenterID = sd.DatacenterID
	}
	if spec.DatacenterID != sd.DatacenterID {
		return nil, nil, api.Errorf(api.Invalid, api.ObjDisk, "disk %d is in datacenter %d, not %d: copy it within its datacenter", sd.ID, sd.DatacenterID, spec.DatacenterID)
	}
	if err := s.dcOpen(tx, c, spec.DatacenterID); err != nil && sd.AccountID == store.PublicAccount {
		return nil, nil, err
	}
	d := &store.Disk{Disk: api.Disk{
		DatacenterID: sd.DatacenterID, Name: spec.Name, Size: sd.Size, Type: api.DiskData,
		KernelVersion: sd.KernelVersion, KernelCmdline: sd.KernelCmdline, Label: sd.Label, Source: sd.ID,
		SnapshotProfileID: spec.SnapshotProfile,
	}}
	d.Host = sd.Host // a copy is made where its source lives; an image lives on every host
	if d.Host == "" && sd.AccountID != store.PublicAccount {
		// the source is an empty disk not placed yet: so is its copy
	} else if d.Host == "" {
		if d.Host, err = s.place(tx, d.DatacenterID, 0, d.Size); err != nil {
			return nil, nil, err
		}
	} else if err := hostUp(tx, d.Host, api.ObjDisk, sd.ID); err != nil {
		return nil, nil, err
	}
	cs := ops.DiskCreateSpec{Source: sd.ID}
	if spec.Type == api.DiskSnapshot {
		if sd.Type == api.DiskSnapshot || sd.AccountID == store.PublicAccount {
			return nil, nil, api.Errorf(api.Invalid, api.ObjDisk, "disk %d cannot be snapshotted", sd.ID)
		}
		d.Type, cs.Snapshot = api.DiskSnapshot, true
		if d.Name == "" {
			d.Name = fmt.Sprintf("snap_%d_%d", sd.ID, s.now().Unix()%1e6)
		}
	} else if spec.Size != 0 {
		if spec.Size < sd.Size {
			return nil, nil, api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: size %d MB is smaller than the source's %d MB", spec.Size, sd.Size)
		}
		d.Size = spec.Size
	}
	op, err := s.newDisk(tx, c, d, cs)
	return d, op, err
}

// DiskCreate creates an empty disk.
func (s *Service) DiskCreate(ctx context.Context, c *Caller, spec DiskSpec) (*api.Operation, error) {
	return s.createOne(ctx, c, func(tx store.Tx) (*store.Operation, error) {
		if err := checkDiskSpec(&spec, true); err != nil {
			return nil, err
		}
		if spec.Type == api.DiskSnapshot {
			return nil, api.Errorf(api.Invalid, api.ObjDisk, "disk_spec: a snapshot is made with disk.create_from")
		}
		if err := s.dcOpen(tx, c, spec.DatacenterID); err != nil {
			return nil, err
		}
		if spec.Size == 0 {
			spec.Size = DefaultDiskMB
		}
		host, err := s.emptyDiskHost(tx, spec.DatacenterID, spec.Size)
		if err != nil {
			return nil, err
		}
		d := &store.Disk{Host: host, Disk: api.Disk{DatacenterID: spec.DatacenterID, Name: spec.Name, Size: spec.Size, Type: api.DiskData, SnapshotProfileID: spec.SnapshotProfile}}
		return s.newDisk(tx, c, d, ops.DiskCreateSpec{})
	})
}

// DiskCreateFrom copies or snapshots a disk.
func (s *Service) DiskCreateFrom(ctx context.Context, c *Caller, spec DiskSpec, src int64) (*api.Operation, error) {
	return s.createOne(ctx, c, func(tx store.Tx) (*store.Operation, error) {
		_, op, err := s.newDiskFrom(tx, c, spec, src)
		return op, err
	})
}

func (s *Service) createOne(ctx context.Context, c *Caller, mk func(tx store.Tx) (*store.Operation, error)) (*api.Operation, error) {
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		if err := s.requireCredit(tx, c); err != nil {
			return nil, err
		}
		return mk(tx)
	})
}

// diskOp is the common path of calls that queue one operation on an existing disk.
func (s *Service) diskOp(ctx context.Context, c *Caller, id int64, typ string, spec any, check func(tx store.Tx, d *store.Disk) error) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		d, err := tx.Disk(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjDisk, id)
		}
		if err := check(tx, d); err != nil {
			return err
		}
		op, err := s.newOp(c, typ, spec)
		if err != nil {
			return err
		}
		op.DiskID, op.VMID, op.DatacenterID = d.ID, d.VMID, d.DatacenterID
		if err := onHost(tx, op, d.Host, api.ObjDisk, d.ID); err != nil {
			return err
		}
		if err := s.submit(ctx, tx, op); err != nil {
			return err
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// DiskUpdate renames, grows, or changes the kernel, cmdline or snapshot profile of a disk.
func (s *Service) DiskUpdate(ctx context.Context, c *Caller, id int64, u DiskUpdate) (*api.Operation, error) {
	return s.diskOp(ctx, c, id, ops.DiskUpdate, u, func(tx store.Tx, d *store.Disk) error {
		return s.checkDiskUpdate(d, &u)
	})
}

func (s *Service) checkDiskUpdate(d *store.Disk, u *DiskUpdate) error {
	if u.Name != nil && !diskNameRE.MatchString(*u.Name) {
		return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: name %q may only hold letters, digits, '_', '.' and '-'", truncate(*u.Name, 70))
	}
	if u.Size != nil {
		if *u.Size < d.Size {
			return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: disk %d cannot shrink from %d MB to %d MB", d.ID, d.Size, *u.Size)
		}
		if *u.Size > MaxDiskMB {
			return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: size %d MB is over %d MB", *u.Size, MaxDiskMB)
		}
		if d.Type == api.DiskSnapshot {
			return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: snapshot %d cannot be resized", d.ID)
		}
	}
	if u.Kernel != nil {
		if _, ok := s.cat.Kernel(*u.Kernel); !ok {
			return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: kernel %q is not one of disk.list_kernels(%d)", truncate(*u.Kernel, 70), d.DatacenterID)
		}
	}
	if u.Cmdline != nil && len(*u.Cmdline) > 1024 {
		return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: cmdline is longer than 1024 characters")
	}
	if u.SnapshotProfile != nil && *u.SnapshotProfile != 0 {
		if d.Type == api.DiskSnapshot {
			return api.Errorf(api.Invalid, api.ObjDisk, "update_spec: snapshot %d cannot have a snapshot_profile", d.ID)
		}
		return checkProfile(*u.SnapshotProfile)
	}
	return nil
}

// DiskDelete deletes a detached disk.
func (s *Service) DiskDelete(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.diskOp(ctx, c, id, ops.DiskDelete, struct{}{}, func(tx store.Tx, d *store.Disk) error {
		if d.VMID != 0 {
			return api.Errorf(api.Attached, api.ObjDisk, "disk#%d is attached to vm#%d", d.ID, d.VMID)
		}
		return nil
	})
}

// DiskRollback restores a snapshot's source disk, which must be detached.
func (s *Service) DiskRollback(ctx context.Context, c *Caller, snapID int64) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		snap, err := tx.Disk(c.AccountID, snapID)
		if err != nil {
			return notFound(err, api.ObjDisk, snapID)
		}
		if snap.Type != api.DiskSnapshot {
			return api.Errorf(api.Invalid, api.ObjDisk, "disk %d is not a snapshot", snapID)
		}
		src, err := tx.Disk(c.AccountID, snap.Source)
		if err != nil {
			return api.Errorf(api.NotFound, api.ObjDisk, "the source disk %d of snapshot %d no longer exists", snap.Source, snapID)
		}
		if src.VMID != 0 {
			return api.Errorf(api.Attached, api.ObjDisk, "disk#%d associated with snapshot#%d is attached", src.ID, snapID)
		}
		op, err := s.newOp(c, ops.DiskRollback, ops.DiskRollbackSpec{Snapshot: snapID})
		if err != nil {
			return err
		}
		op.DiskID, op.DatacenterID = src.ID, src.DatacenterID
		if err := onHost(tx, op, src.Host, api.ObjDisk, src.ID); err != nil {
			return err
		}
		if err := s.submit(ctx, tx, op); err != nil {
			return err
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// DiskAttach attaches a disk to a VM: appended, or at a position (0 makes it the boot
// disk; D14).
func (s *Service) DiskAttach(ctx context.Context, c *Caller, vmID, diskID int64, position int64, readOnly bool) (*api.Operation, error) {
	return s.attachOp(ctx, c, vmID, diskID, ops.DiskAttach, ops.AttachSpec{Position: position, ReadOnly: readOnly}, s.checkDiskAttach)
}

// DiskDetach detaches a disk from a VM; the boot disk only from a halted VM.
func (s *Service) DiskDetach(ctx context.Context, c *Caller, vmID, diskID int64) (*api.Operation, error) {
	return s.attachOp(ctx, c, vmID, diskID, ops.DiskDetach, ops.AttachSpec{Position: -1}, s.checkDiskDetach)
}

func (s *Service) checkDiskAttach(tx store.Tx, v *store.VM, diskID int64, spec ops.AttachSpec) error {
	d, err := tx.Disk(v.AccountID, diskID)
	if err != nil {
		return notFound(err, api.ObjDisk, diskID)
	}
	if d.DatacenterID != v.DatacenterID {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk %d is in datacenter %d, vm %d in %d", d.ID, d.DatacenterID, v.ID, v.DatacenterID)
	}
	if d.Type == api.DiskSnapshot {
		return api.Errorf(api.Invalid, api.ObjDisk, "disk %d is a snapshot: create a disk from it to use it", d.ID)
	}
	if d.Host != "" && d.Host != v.Host {
		// The disk follows the VM: the attach copies it to the VM's host first, which needs
		// the host it lives on.
		if err := hostUp(tx, d.Host, api.ObjDisk, d.ID); err != nil {
			return err
		}
		if err := canSend(tx, d.Host, d.ID); err != nil {
			return err
		}
	}
	if d.VMID != 0 && d.VMID != v.ID {
		return api.Errorf(api.Attached, api.ObjDisk, "disk %d is attached to vm %d: detach it first", d.ID, d.VMID)
	}
	if d.VMID == v.ID && spec.Position < 0 {
		return api.Errorf(api.Conflict, api.ObjDisk, "disk %d is already attached to vm %d", d.ID, v.ID)
	}
	if spec.Position == 0 && v.State == api.VMRunning {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is running: halt it to change its boot disk", v.ID)
	}
	disks, err := tx.DisksOfVM(v.ID)
	if err != nil {
		return err
	}
	if d.VMID != v.ID && len(disks) >= s.cfg.MaxDisksPerVM {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d already has %d disks", v.ID, len(disks))
	}
	if spec.Position > int64(len(disks)) {
		return api.Errorf(api.Invalid, api.ObjDisk, "position %d is past the end of vm %d's %d disks", spec.Position, v.ID, len(disks))
	}
	return nil
}

func (s *Service) checkDiskDetach(tx store.Tx, v *store.VM, diskID int64, _ ops.AttachSpec) error {
	d, err := tx.Disk(v.AccountID, diskID)
	if err != nil {
		return notFound(err, api.ObjDisk, diskID)
	}
	if d.VMID != v.ID {
		return api.Errorf(api.Conflict, api.ObjDisk, "disk %d is not attached to vm %d", d.ID, v.ID)
	}
	if d.Position == 0 && v.State != api.VMHalted {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d is %s: halt it to detach its system disk", v.ID, v.State)
	}
	return nil
}

// attachOp queues an attach or detach operation of a disk or iface on a VM.
func (s *Service) attachOp(ctx context.Context, c *Caller, vmID, objID int64, typ string, spec ops.AttachSpec, check func(tx store.Tx, v *store.VM, obj int64, spec ops.AttachSpec) error) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		v, err := tx.VM(c.AccountID, vmID)
		if err != nil {
			return notFound(err, api.ObjVM, vmID)
		}
		if err := check(tx, v, objID, spec); err != nil {
			return err
		}
		op, err := s.newOp(c, typ, spec)
		if err != nil {
			return err
		}
		op.VMID, op.DatacenterID = v.ID, v.DatacenterID
		if err := onHost(tx, op, v.Host, api.ObjVM, v.ID); err != nil {
			return err
		}
		if typ == ops.DiskAttach || typ == ops.DiskDetach {
			op.DiskID = objID
		} else {
			op.IfaceID = objID
		}
		if err := s.submit(ctx, tx, op); err != nil {
			return err
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// ImageList lists the images.
func (s *Service) ImageList(ctx context.Context, o api.ListOptions) ([]api.Image, error) {
	var out []api.Image
	err := s.read(ctx, func(tx store.Tx) error {
		q := page(&Caller{AccountID: store.AllAccounts}, o)
		list, err := tx.Images(q)
		for _, im := range list {
			out = append(out, *im)
		}
		return err
	})
	return out, err
}

// ImageInfo returns one image.
func (s *Service) ImageInfo(ctx context.Context, id int64) (*api.Image, error) {
	list, err := s.ImageList(ctx, api.ListOptions{Filters: []api.Filter{{Field: "id", Values: []any{id}}}})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, api.NotFoundErr(api.ObjImage, id)
	}
	return &list[0], nil
}
