package gandi

import (
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// Wire shapes: every field name and type of gandi-api.md §3 and D6 lives here.

type wire = map[string]any

// idOrNil is an id, or <nil/> for 0.
func idOrNil(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNil(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC()
}

func ids(list []int64) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func datacenterWire(d api.Datacenter) wire {
	return wire{
		"id": d.ID, "iso": d.ISO, "name": d.Name, "country": d.Country, "dc_code": d.Code,
		"can_migrate_to": ids(d.CanMigrateTo), "deactivate_at": timeOrNil(d.DeactivateAt),
		"iaas_closed_for": d.IaaSClosedFor, "paas_closed_for": d.PaaSClosedFor,
	}
}

// withDC adds the nested datacenter of *.info results (D4).
func (g *gandi) withDC(w wire, dcID int64) wire {
	if d, err := g.svc.DatacenterInfo(dcID); err == nil {
		w["datacenter"] = datacenterWire(d)
	}
	return w
}

func imageWire(im api.Image) wire {
	return wire{
		"id": im.ID, "disk_id": im.DiskID, "datacenter_id": im.DatacenterID, "author_id": im.AuthorID,
		"label": im.Label, "os_arch": im.OSArch, "kernel_version": im.KernelVersion, "size": im.Size,
		"system": im.System, "version": im.Version, "visibility": im.Visibility,
		"date_created": im.Created, "date_updated": im.Updated,
	}
}

func vmWire(v api.VM) wire {
	console := int64(0)
	if v.Console {
		console = 1
	}
	return wire{
		"id": v.ID, "hostname": v.Hostname, "datacenter_id": v.DatacenterID, "state": v.State,
		"memory": v.Memory, "vm_max_memory": v.MaxMemory, "cores": v.Cores, "flex_shares": int64(0),
		"ai_active": v.AIActive, "console": console, "description": strOrNil(v.Description),
		"farm": v.Farm, "is_migrating": false, "disks_id": ids(v.DisksID), "ifaces_id": ids(v.IfacesID),
		"entity_id": v.EntityID, "date_created": v.Created, "date_updated": v.Updated,
	}
}

func (g *gandi) vmInfoWire(d *service.VMDetail) wire {
	w := vmWire(d.VM)
	disks := make([]any, len(d.Disks))
	for i, x := range d.Disks {
		disks[i] = diskInfoWire(x)
	}
	ifaces := make([]any, len(d.Ifaces))
	for i, f := range d.Ifaces {
		ifaces[i] = ifaceInfoWire(f)
	}
	hvm := "unknown"
	if d.VM.State == api.VMRunning {
		hvm = "running"
	}
	w["console_url"] = g.svc.ConsoleURL()
	w["disks"] = disks
	w["ifaces"] = ifaces
	w["graph_urls"] = wire{"vcpu": []any{""}, "vdi": []any{""}, "vif": []any{""}}
	w["hvm_state"] = hvm
	w["probes"] = []any{}
	w["triggers"] = []any{}
	return g.withDC(w, d.VM.DatacenterID)
}

func diskWire(d api.Disk) wire {
	vms := []any{}
	if d.VMID != 0 {
		vms = []any{d.VMID}
	}
	return wire{
		"id": d.ID, "name": d.Name, "datacenter_id": d.DatacenterID, "size": d.Size, "total_size": d.Size,
		"state": d.State, "type": d.Type, "visibility": d.Visibility, "is_boot_disk": d.BootDisk(),
		"can_snapshot": d.Type == api.DiskData, "is_migrating": d.Migrating,
		"kernel_version": strOrNil(d.KernelVersion), "label": strOrNil(d.Label), "source": idOrNil(d.Source),
		"snapshot_profile_id": idOrNil(d.SnapshotProfileID), "snapshots_id": ids(d.SnapshotsID),
		"vms_id": vms, "entity_id": d.EntityID, "date_created": d.Created, "date_updated": d.Updated,
	}
}

func diskInfoWire(d api.Disk) wire {
	w := diskWire(d)
	var profile any
	if d.SnapshotProfileID != 0 {
		profile = wire{"id": d.SnapshotProfileID, "name": fmt.Sprintf("profile%d", d.SnapshotProfileID)}
	}
	w["snapshot_profile"] = profile
	if c := CmdlineStruct(d.KernelCmdline); c != nil {
		w["kernel_cmdline"] = c
	} else {
		w["kernel_cmdline"] = nil
	}
	return w
}

func numOrNil(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

func ifaceWire(f api.Iface) wire {
	var vlan any
	if f.VLAN != nil {
		vlan = wire{"id": f.VLAN.ID, "name": f.VLAN.Name, "entity_id": f.VLAN.EntityID}
	}
	return wire{
		"id": f.ID, "num": numOrNil(f.Num), "type": f.Type, "state": f.State, "bandwidth": f.Bandwidth,
		"datacenter_id": f.DatacenterID, "vlan": vlan, "vm_id": idOrNil(f.VMID), "ips_id": ids(f.IPsID),
		"entity_id": strOrNil(f.EntityID), "date_created": f.Created, "date_updated": f.Updated,
	}
}

func ifaceInfoWire(d service.IfaceDetail) wire {
	w := ifaceWire(d.Iface)
	ips := make([]any, len(d.IPs))
	for i, ip := range d.IPs {
		ips[i] = ipWire(ip)
	}
	w["ips"] = ips
	return w
}

func ipWire(ip api.IP) wire {
	w := wire{
		"id": ip.ID, "ip": strOrNil(ip.IP), "version": ip.Version, "num": ip.Num, "iface_id": ip.IfaceID,
		"iface_num": numOrNil(ip.IfaceNum), "reverse": ip.Reverse, "state": ip.State, "type": ip.Type,
		"bandwidth": ip.Bandwidth, "datacenter_id": ip.DatacenterID, "vm_id": idOrNil(ip.VMID),
		"entity_id": ip.EntityID, "date_created": ip.Created, "date_updated": ip.Updated,
	}
	if ip.State == api.StateBeingCreated && ip.Type == "public" {
		w["reverse"] = nil
	}
	return w
}

func vlanWire(v api.VLAN) wire {
	return wire{
		"id": v.ID, "name": v.Name, "datacenter_id": v.DatacenterID, "gateway": strOrNil(v.Gateway),
		"subnet": v.Subnet, "state": v.State, "uuid": v.UUID, "entity_id": v.EntityID,
	}
}

func sshWire(k api.SSHKey, withValue bool) wire {
	w := wire{"id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint}
	if withValue {
		w["value"] = k.Value
	}
	return w
}

// opShort is the short form every hosting.vm/disk/iface/ip call returns (§2.1).
func opShort(o api.Operation) wire {
	return wire{
		"id": o.ID, "type": o.Type, "step": o.Step, "source": o.Source,
		"date_created": o.Created, "date_updated": o.Updated, "date_start": timeOrNil(o.Started),
		"vm_id": idOrNil(o.VMID), "disk_id": idOrNil(o.DiskID), "iface_id": idOrNil(o.IfaceID), "ip_id": idOrNil(o.IPID),
	}
}

// opFull is the form of operation.info/list and of hosting.vlan.* (§2.2, D8).
func opFull(o api.Operation) wire {
	w := opShort(o)
	params := wire{}
	for k, v := range o.Params {
		params[k] = v
	}
	params["param_type"] = o.Type
	w["eta"] = o.ETA
	w["errortype"] = nil
	w["last_error"] = strOrNil(o.LastError)
	w["last_support_error"] = nil
	w["session_id"] = nil
	w["infos"] = wire{"extras": wire{}, "id": "", "label": "", "product_action": o.Type, "product_name": "", "product_type": "hosting", "quantity": ""}
	w["params"] = params
	return w
}

func opsShort(list []api.Operation) []any {
	out := make([]any, len(list))
	for i, o := range list {
		out[i] = opShort(o)
	}
	return out
}

func accountWire(a *api.Account) wire {
	return wire{
		"id": a.ID, "handle": a.Handle, "fullname": a.FullName, "credits": a.Credits,
		"average_credit_cost": nil, "date_credits_expiration": nil, "products": nil, "rating_enabled": true,
		"resources":        wire{"available": nil, "expired": nil, "granted": nil, "used": nil},
		"share_definition": nil, "cycle_day": int64(a.Created.Day()),
	}
}

func ratingWire(r api.Rating) []any {
	return []any{wire{
		"bw_out": nil, "cpu": wire{"default": r.CPU}, "disk_data": wire{"default": r.DiskData},
		"disk_snapshot": wire{"default": r.DiskSnapshot}, "disk_snapshot_auto": nil,
		"instance": wire{"default": r.Instance}, "ip": wire{"v4_public": r.IPv4, "v6": r.IPv6},
		"ram": wire{"default": r.RAM}, "rproxy": nil, "rproxy_server": nil, "rproxy_ssl": nil,
		"timestamp": r.Timestamp,
	}}
}
