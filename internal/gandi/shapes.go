package gandi

import (
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

// withDCm is withDC for a shape built as members.
func (g *gandi) withDCm(m members, dcID int64) members {
	if d, err := g.svc.DatacenterInfo(dcID); err == nil {
		return merge(m, members{mb("datacenter", datacenterWire(d))})
	}
	return m
}

func imageWire(im api.Image) wire {
	return wire{
		"id": im.ID, "disk_id": im.DiskID, "datacenter_id": im.DatacenterID, "author_id": im.AuthorID,
		"label": im.Label, "os_arch": im.OSArch, "kernel_version": im.KernelVersion, "size": im.Size,
		"system": im.System, "version": im.Version, "visibility": im.Visibility,
		"date_created": im.Created, "date_updated": im.Updated,
	}
}

// The shapes of vm.list and vm.info and of their parts are built as members in name order:
// the bytes are those a map would give (the encoder sorts a map's keys), without a map
// and a sort per object (TestOrderedShapes checks the order).

func vmWire(v api.VM) members {
	console := int64(0)
	if v.Console {
		console = 1
	}
	return members{
		mb("ai_active", v.AIActive), mb("console", console), mb("cores", v.Cores), mb("datacenter_id", v.DatacenterID),
		mb("date_created", v.Created), mb("date_updated", v.Updated), mb("description", strOrNil(v.Description)),
		mb("disks_id", ids(v.DisksID)), mb("entity_id", v.EntityID), mb("farm", v.Farm), mb("flex_shares", int64(0)),
		mb("hostname", v.Hostname), mb("id", v.ID), mb("ifaces_id", ids(v.IfacesID)), mb("is_migrating", v.Migrating),
		mb("memory", v.Memory), mb("state", v.State), mb("vm_max_memory", v.MaxMemory),
	}
}

func (g *gandi) vmInfoWire(d *service.VMDetail) members {
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
	// datacenter_id only, no nested datacenter (D4 as corrected). guest_agent is a Berth
	// extension (docs/api.md): whether the running VM's guest agent answers.
	var agent any
	if d.VM.State == api.VMRunning && d.VM.GuestAgent != "" {
		agent = d.VM.GuestAgent
	}
	return merge(vmWire(d.VM), members{
		mb("console_url", g.svc.ConsoleURL()), mb("disks", disks),
		mb("graph_urls", wire{"vcpu": []any{""}, "vdi": []any{""}, "vif": []any{""}}), mb("guest_agent", agent), mb("hvm_state", hvm),
		mb("ifaces", ifaces), mb("probes", []any{}), mb("triggers", []any{}),
	})
}

func diskWire(d api.Disk) members {
	vms := []any{}
	if d.VMID != 0 {
		vms = []any{d.VMID}
	}
	return members{
		mb("can_snapshot", d.Type == api.DiskData), mb("datacenter_id", d.DatacenterID), mb("date_created", d.Created),
		mb("date_updated", d.Updated), mb("entity_id", d.EntityID), mb("id", d.ID), mb("is_boot_disk", d.BootDisk()),
		mb("is_migrating", d.Migrating), mb("kernel_version", strOrNil(d.KernelVersion)), mb("label", strOrNil(d.Label)),
		mb("name", d.Name), mb("size", d.Size), mb("snapshot_profile_id", idOrNil(d.SnapshotProfileID)),
		mb("snapshots_id", ids(d.SnapshotsID)), mb("source", idOrNil(d.Source)), mb("state", d.State),
		mb("total_size", d.Size), mb("type", d.Type), mb("visibility", d.Visibility), mb("vms_id", vms),
	}
}

func diskInfoWire(d api.Disk) members {
	var cmdline any
	if c := CmdlineStruct(d.KernelCmdline); c != nil {
		cmdline = c
	}
	return merge(diskWire(d), members{mb("kernel_cmdline", cmdline), mb("snapshot_profile", diskProfileWire(d.SnapshotProfileID))})
}

func numOrNil(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

func ifaceWire(f api.Iface) members {
	var vlan any
	if f.VLAN != nil {
		vlan = wire{"id": f.VLAN.ID, "name": f.VLAN.Name, "entity_id": f.VLAN.EntityID}
	}
	return members{
		mb("bandwidth", f.Bandwidth), mb("datacenter_id", f.DatacenterID), mb("date_created", f.Created),
		mb("date_updated", f.Updated), mb("entity_id", strOrNil(f.EntityID)), mb("id", f.ID), mb("ips_id", ids(f.IPsID)),
		mb("num", numOrNil(f.Num)), mb("state", f.State), mb("type", f.Type), mb("vlan", vlan), mb("vm_id", idOrNil(f.VMID)),
	}
}

func ifaceInfoWire(d service.IfaceDetail) members {
	ips := make([]any, len(d.IPs))
	for i, ip := range d.IPs {
		ips[i] = ipWire(ip)
	}
	return merge(ifaceWire(d.Iface), members{mb("ips", ips)})
}

func ipWire(ip api.IP) members {
	var reverse any = ip.Reverse
	if ip.State == api.StateBeingCreated && ip.Type == "public" {
		reverse = nil
	}
	return members{
		mb("bandwidth", ip.Bandwidth), mb("datacenter_id", ip.DatacenterID), mb("date_created", ip.Created),
		mb("date_updated", ip.Updated), mb("entity_id", ip.EntityID), mb("id", ip.ID), mb("iface_id", ip.IfaceID),
		mb("iface_num", numOrNil(ip.IfaceNum)), mb("ip", strOrNil(ip.IP)), mb("num", ip.Num), mb("reverse", reverse),
		mb("state", ip.State), mb("type", ip.Type), mb("version", ip.Version), mb("vm_id", idOrNil(ip.VMID)),
	}
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
