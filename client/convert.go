package client

import (
	"time"

	"github.com/berth-io/berth/api"
)

// Conversions from Gandi structs to api types. Fields the wire does not carry keep their
// zero value; positions and numbers the wire leaves nil become -1.

func optTime(o Object, key string) *time.Time {
	t := o.Time(key)
	if t.IsZero() {
		return nil
	}
	return &t
}

func numOrMinus(o Object, key string) int64 {
	if !o.Has(key) {
		return -1
	}
	return o.Int(key)
}

// AsDatacenter converts a DatacenterReturn.
func AsDatacenter(o Object) api.Datacenter {
	return api.Datacenter{
		ID: o.ID(), Code: o.Str("dc_code"), Name: o.Str("name"), Country: o.Str("country"), ISO: o.Str("iso"),
		IaaSClosedFor: o.Str("iaas_closed_for"), PaaSClosedFor: o.Str("paas_closed_for"),
		DeactivateAt: optTime(o, "deactivate_at"), CanMigrateTo: o.Ints("can_migrate_to"),
	}
}

// AsImage converts an image struct.
func AsImage(o Object) api.Image {
	return api.Image{
		ID: o.ID(), Label: o.Str("label"), OSArch: o.Str("os_arch"), KernelVersion: o.Str("kernel_version"),
		System: o.Str("system"), Version: o.Str("version"), Visibility: o.Str("visibility"),
		DatacenterID: o.Int("datacenter_id"), DiskID: o.Int("disk_id"), AuthorID: o.Int("author_id"),
		Size: o.Int("size"), Created: o.Time("date_created"), Updated: o.Time("date_updated"),
	}
}

// AsVM converts a VMReturn or VMInfoReturn (the nested disks and ifaces are left out: use
// AsDisk and AsIface on o.Objs("disks") and o.Objs("ifaces")).
func AsVM(o Object) api.VM {
	return api.VM{
		ID: o.ID(), DatacenterID: o.Int("datacenter_id"), Hostname: o.Str("hostname"), State: o.Str("state"),
		Memory: o.Int("memory"), MaxMemory: o.Int("vm_max_memory"), Cores: o.Int("cores"),
		Console: o.Bool("console"), AIActive: o.Int("ai_active"), Description: o.Str("description"),
		Farm: o.Str("farm"), EntityID: o.Str("entity_id"), DisksID: o.Ints("disks_id"), IfacesID: o.Ints("ifaces_id"),
		Created: o.Time("date_created"), Updated: o.Time("date_updated"),
	}
}

// AsDisk converts a DiskReturn or DiskInfoReturn. Position is 0 for a boot disk and -1 for
// any other (the wire does not carry it; in vm.info it is the index in disks).
func AsDisk(o Object) api.Disk {
	d := api.Disk{
		ID: o.ID(), DatacenterID: o.Int("datacenter_id"), Name: o.Str("name"), Size: o.Int("size"),
		State: o.Str("state"), Type: o.Str("type"), Visibility: o.Str("visibility"),
		KernelVersion: o.Str("kernel_version"), KernelCmdline: Cmdline(o.Obj("kernel_cmdline")),
		Label: o.Str("label"), Source: o.Int("source"), SnapshotsID: o.Ints("snapshots_id"),
		SnapshotProfileID: o.Int("snapshot_profile_id"), EntityID: o.Str("entity_id"),
		Created: o.Time("date_created"), Updated: o.Time("date_updated"), Position: -1,
	}
	if p := o.Obj("snapshot_profile"); p != nil {
		d.SnapshotProfileID = p.ID()
	}
	if vms := o.Ints("vms_id"); len(vms) > 0 {
		d.VMID = vms[0]
	}
	if o.Bool("is_boot_disk") {
		d.Position = 0
	}
	return d
}

// AsIface converts an IfaceReturn (with or without ips).
func AsIface(o Object) api.Iface {
	f := api.Iface{
		ID: o.ID(), DatacenterID: o.Int("datacenter_id"), Num: numOrMinus(o, "num"), Type: o.Str("type"),
		State: o.Str("state"), Bandwidth: o.Float("bandwidth"), VMID: o.Int("vm_id"), IPsID: o.Ints("ips_id"),
		EntityID: o.Str("entity_id"), Created: o.Time("date_created"), Updated: o.Time("date_updated"),
	}
	if v := o.Obj("vlan"); v != nil {
		f.VLAN = &api.VLANRef{ID: v.ID(), Name: v.Str("name"), EntityID: v.Str("entity_id")}
	}
	return f
}

// AsIP converts an IPReturn.
func AsIP(o Object) api.IP {
	return api.IP{
		ID: o.ID(), IfaceID: o.Int("iface_id"), DatacenterID: o.Int("datacenter_id"), IP: o.Str("ip"),
		Version: o.Int("version"), Num: o.Int("num"), IfaceNum: numOrMinus(o, "iface_num"),
		Reverse: o.Str("reverse"), State: o.Str("state"), Type: o.Str("type"), Bandwidth: o.Float("bandwidth"),
		VMID: o.Int("vm_id"), EntityID: o.Str("entity_id"), Created: o.Time("date_created"), Updated: o.Time("date_updated"),
	}
}

// AsVLAN converts a VlanReturn (datacenter_id, or the nested datacenter of vlan.info).
func AsVLAN(o Object) api.VLAN {
	v := api.VLAN{
		ID: o.ID(), DatacenterID: o.Int("datacenter_id"), Name: o.Str("name"), Subnet: o.Str("subnet"),
		Gateway: o.Str("gateway"), State: o.Str("state"), UUID: o.Int("uuid"), EntityID: o.Str("entity_id"),
		Created: o.Time("date_created"), Updated: o.Time("date_updated"),
	}
	if v.DatacenterID == 0 {
		v.DatacenterID = o.Obj("datacenter").ID()
	}
	return v
}

// AsSSHKey converts an SshKeyReturn (value only from info and create).
func AsSSHKey(o Object) api.SSHKey {
	return api.SSHKey{ID: o.ID(), Name: o.Str("name"), Fingerprint: o.Str("fingerprint"), Value: o.Str("value")}
}

// AsOperation converts an operation, short (§2.1) or full (§2.2) form.
func AsOperation(o Object) api.Operation {
	p := o.Obj("params")
	op := api.Operation{
		ID: o.ID(), Type: o.Str("type"), Step: o.Str("step"), Source: o.Str("source"),
		VMID: o.Int("vm_id"), DiskID: o.Int("disk_id"), IfaceID: o.Int("iface_id"), IPID: o.Int("ip_id"),
		VLANID: p.Int("vlan_id"), DatacenterID: p.Int("datacenter_id"), LastError: o.Str("last_error"),
		ETA: o.Int("eta"), Created: o.Time("date_created"), Updated: o.Time("date_updated"),
		Started: optTime(o, "date_start"),
	}
	if p != nil {
		op.Params = map[string]any(p)
	}
	for key, dst := range map[string]*int64{"vm_id": &op.VMID, "disk_id": &op.DiskID, "iface_id": &op.IfaceID, "ip_id": &op.IPID} {
		if *dst == 0 {
			*dst = p.Int(key)
		}
	}
	return op
}

// AsAccount converts hosting.account.info.
func AsAccount(o Object) api.Account {
	return api.Account{ID: o.ID(), Handle: o.Str("handle"), FullName: o.Str("fullname"), Credits: o.Int("credits")}
}
