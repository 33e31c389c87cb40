package gandi

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

func (g *gandi) vmList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjVM, g.svc.VMList, vmWire)(ctx, c, p)
}

func (g *gandi) vmCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjVM, g.svc.VMCount)(ctx, c, p)
}

func (g *gandi) vmInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("vm_id", g.svc.VMInfo, func(d *service.VMDetail) any { return g.vmInfoWire(d) })(ctx, c, p)
}

func (g *gandi) vmAction(fn func(context.Context, *service.Caller, int64) (*api.Operation, error)) handler {
	return byID("vm_id", fn, short)
}

// vmSpec reads a vm_spec struct.
func vmSpec(m map[string]any) (service.VMSpec, error) {
	var v service.VMSpec
	const o = api.ObjVM
	var err error
	ints := map[string]*int64{"datacenter_id": &v.DatacenterID, "memory": &v.Memory, "cores": &v.Cores,
		"ip_version": &v.IPVersion, "iface_id": &v.IfaceID, "sys_disk_id": &v.SysDiskID, "ai_active": &v.AIActive}
	for k, dst := range ints {
		if *dst, _, err = memberInt(o, m, k); err != nil {
			return v, err
		}
	}
	strs := map[string]*string{"hostname": &v.Hostname, "login": &v.Login, "password": &v.Password, "ssh_key": &v.SSHKey,
		"run": &v.Run, "script": &v.Script, "script_args": &v.ScriptArgs, "farm": &v.Farm, "description": &v.Description}
	for k, dst := range strs {
		if *dst, err = memberString(o, m, k); err != nil {
			return v, err
		}
	}
	if v.Bandwidth, _, err = memberFloat(o, m, "bandwidth"); err != nil {
		return v, err
	}
	keys, _, err := xmlrpc.MemberIntList(m, "keys")
	if err != nil {
		return v, invalid(o, "keys must be a list of ssh key ids")
	}
	v.Keys = keys
	return v, nil
}

// diskSpec reads a disk_spec struct.
func diskSpec(m map[string]any) (service.DiskSpec, error) {
	var d service.DiskSpec
	const o = api.ObjDisk
	var err error
	if d.DatacenterID, _, err = memberInt(o, m, "datacenter_id"); err != nil {
		return d, err
	}
	if d.Size, _, err = memberInt(o, m, "size"); err != nil {
		return d, err
	}
	if d.Name, err = memberString(o, m, "name"); err != nil {
		return d, err
	}
	if d.Type, err = memberString(o, m, "type"); err != nil {
		return d, err
	}
	if d.SnapshotProfile, _, err = memberInt(o, m, "snapshot_profile"); err != nil {
		return d, err
	}
	return d, nil
}

func (g *gandi) vmCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "vm_spec")
	if err != nil {
		return nil, err
	}
	v, err := vmSpec(m)
	if err != nil {
		return nil, err
	}
	list, err := g.svc.VMCreate(ctx, c, v)
	if err != nil {
		return nil, err
	}
	return opsShort(list), nil
}

func (g *gandi) vmCreateFrom(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "vm_spec")
	if err != nil {
		return nil, err
	}
	v, err := vmSpec(m)
	if err != nil {
		return nil, err
	}
	dm, err := xmlrpc.Struct(p, 2, "disk_spec")
	if err != nil {
		return nil, err
	}
	d, err := diskSpec(dm)
	if err != nil {
		return nil, err
	}
	src, err := xmlrpc.Int(p, 3, "src_disk_id")
	if err != nil {
		return nil, err
	}
	list, err := g.svc.VMCreateFrom(ctx, c, v, d, src)
	if err != nil {
		return nil, err
	}
	return opsShort(list), nil
}

func (g *gandi) vmUpdate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "vm_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.Struct(p, 2, "vm_spec")
	if err != nil {
		return nil, err
	}
	var u ops.VMUpdateSpec
	for k, dst := range map[string]**int64{"memory": &u.Memory, "cores": &u.Cores, "vm_max_memory": &u.MaxMemory} {
		n, ok, err := memberInt(api.ObjVM, m, k)
		if err != nil {
			return nil, err
		}
		if ok {
			*dst = &n
		}
	}
	for k, dst := range map[string]**string{"hostname": &u.Hostname, "password": &u.Password} {
		if v, ok := m[k]; ok && v != nil && v != "" {
			s, err := memberString(api.ObjVM, m, k)
			if err != nil {
				return nil, err
			}
			*dst = &s
		}
	}
	if b, ok, err := memberBool(api.ObjVM, m, "console"); err != nil {
		return nil, err
	} else if ok {
		u.Console = &b
	}
	op, err := g.svc.VMUpdate(ctx, c, id, u)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) vmDiskAttach(ctx context.Context, c *service.Caller, p []any) (any, error) {
	vmID, err := xmlrpc.Int(p, 1, "vm_id")
	if err != nil {
		return nil, err
	}
	diskID, err := xmlrpc.Int(p, 2, "disk_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.OptStruct(p, 3, "options")
	if err != nil {
		return nil, err
	}
	pos, ok, err := memberInt(api.ObjVM, m, "position")
	if err != nil {
		return nil, err
	}
	if !ok {
		pos = -1
	} else if pos < 0 {
		return nil, invalid(api.ObjVM, "options: position %d is negative", pos)
	}
	access, err := memberString(api.ObjVM, m, "access")
	if err != nil {
		return nil, err
	}
	if access != "" && access != "read" && access != "write" {
		return nil, invalid(api.ObjVM, "options: access %q is not read or write", access)
	}
	op, err := g.svc.DiskAttach(ctx, c, vmID, diskID, pos, access == "read")
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) vmPair(fn func(context.Context, *service.Caller, int64, int64) (*api.Operation, error), second string) handler {
	return func(ctx context.Context, c *service.Caller, p []any) (any, error) {
		vmID, err := xmlrpc.Int(p, 1, "vm_id")
		if err != nil {
			return nil, err
		}
		id, err := xmlrpc.Int(p, 2, second)
		if err != nil {
			return nil, err
		}
		op, err := fn(ctx, c, vmID, id)
		if err != nil {
			return nil, err
		}
		return opShort(*op), nil
	}
}

func (g *gandi) vmDiskDetach(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return g.vmPair(g.svc.DiskDetach, "disk_id")(ctx, c, p)
}

func (g *gandi) vmIfaceAttach(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return g.vmPair(g.svc.IfaceAttach, "iface_id")(ctx, c, p)
}

func (g *gandi) vmIfaceDetach(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return g.vmPair(g.svc.IfaceDetach, "iface_id")(ctx, c, p)
}

func (g *gandi) diskList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjDisk, g.svc.DiskList, diskWire)(ctx, c, p)
}

func (g *gandi) diskCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjDisk, g.svc.DiskCount)(ctx, c, p)
}

func (g *gandi) diskInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("disk_id", g.svc.DiskInfo, func(d *api.Disk) any { return g.withDCm(diskInfoWire(*d), d.DatacenterID) })(ctx, c, p)
}

func (g *gandi) diskCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "disk_spec")
	if err != nil {
		return nil, err
	}
	d, err := diskSpec(m)
	if err != nil {
		return nil, err
	}
	op, err := g.svc.DiskCreate(ctx, c, d)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) diskCreateFrom(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "disk_spec")
	if err != nil {
		return nil, err
	}
	d, err := diskSpec(m)
	if err != nil {
		return nil, err
	}
	src, err := xmlrpc.Int(p, 2, "src_disk_id")
	if err != nil {
		return nil, err
	}
	op, err := g.svc.DiskCreateFrom(ctx, c, d, src)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) diskUpdate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "disk_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.Struct(p, 2, "update_spec")
	if err != nil {
		return nil, err
	}
	var u ops.DiskUpdateSpec
	const o = api.ObjDisk
	if n, ok, err := memberInt(o, m, "size"); err != nil {
		return nil, err
	} else if ok {
		u.Size = &n
	}
	for k, dst := range map[string]**string{"name": &u.Name, "kernel": &u.Kernel} {
		if v, ok := m[k]; ok && v != nil && v != "" {
			s, err := memberString(o, m, k)
			if err != nil {
				return nil, err
			}
			*dst = &s
		}
	}
	switch cl := m["cmdline"].(type) {
	case nil:
	case string:
		u.Cmdline = &cl
	case map[string]any:
		s, err := CmdlineString(cl)
		if err != nil {
			return nil, invalid(o, "cmdline: %v", err)
		}
		u.Cmdline = &s
	default:
		return nil, invalid(o, "cmdline must be a string or a struct")
	}
	if v, ok := m["snapshot_profile"]; ok {
		var n int64
		if v != "" && v != nil {
			if n, _, err = memberInt(o, m, "snapshot_profile"); err != nil {
				return nil, err
			}
		}
		u.SnapshotProfile = &n // '' removes the profile
	}
	op, err := g.svc.DiskUpdate(ctx, c, id, u)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) diskDelete(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("disk_id", g.svc.DiskDelete, short)(ctx, c, p)
}

func (g *gandi) diskRollback(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("snapshot_id", g.svc.DiskRollback, short)(ctx, c, p)
}

func (g *gandi) diskListKernels(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "datacenter_id")
	if err != nil {
		return nil, err
	}
	k, err := g.svc.ListKernels(id)
	if err != nil {
		return nil, err
	}
	out := wire{}
	for flavor, names := range k {
		l := make([]any, len(names))
		for i, n := range names {
			l[i] = n
		}
		out[flavor] = l
	}
	return out, nil
}

// diskListOptions returns the default command-line options of a kernel, {} for an unknown
// one (D9).
func (g *gandi) diskListOptions(ctx context.Context, c *service.Caller, p []any) (any, error) {
	name, err := xmlrpc.String(p, 1, "kernel_version")
	if err != nil {
		return nil, err
	}
	k, ok := g.svc.Catalog().Kernel(name)
	if !ok || k.Cmdline == "" {
		return wire{}, nil
	}
	return CmdlineStruct(k.Cmdline), nil
}

// diskGetOptions (API 2.0) returns the command-line options of a disk.
func (g *gandi) diskGetOptions(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("disk_id", g.svc.DiskInfo, func(d *api.Disk) any {
		if s := CmdlineStruct(d.KernelCmdline); s != nil {
			return s
		}
		return wire{}
	})(ctx, c, p)
}
