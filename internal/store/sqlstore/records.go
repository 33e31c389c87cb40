package sqlstore

import (
	"encoding/json"
	"fmt"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

var accountCols = []string{"handle", "fullname", "key_hash", "credits_milli", "prepaid_cents", "billed_at", "created_at"}

var accounts = &table[store.Account]{
	text: texts("handle", "fullname", "key_hash"),
	name: "accounts", cols: accountCols, fields: fieldsOf(accountCols, nil),
	vals: func(a *store.Account) []any {
		return []any{a.Handle, a.FullName, a.KeyHash, a.CreditsMilli, a.PrepaidCents, unix(a.BilledAt), unix(a.Created)}
	},
	ptrs: func(a *store.Account) []any {
		return []any{&a.ID, &a.Handle, &a.FullName, &a.KeyHash, &a.CreditsMilli, &a.PrepaidCents, unixTime{&a.BilledAt}, unixTime{&a.Created}}
	},
	id:   func(a *store.Account) *int64 { return &a.ID },
	kind: "account", event: func(a *store.Account) (int64, any) {
		return a.ID, map[string]int64{"credits": a.CreditsMilli / 1000, "prepaid_cents": a.PrepaidCents}
	},
}

var imageCols = []string{"label", "os_arch", "kernel_version", "system", "version", "visibility", "datacenter_id", "disk_id", "author_id", "size", "date_created", "date_updated"}

var images = &table[api.Image]{
	text: texts("label", "os_arch", "kernel_version", "system", "version", "visibility"),
	name: "images", cols: imageCols, fields: fieldsOf(imageCols, nil),
	vals: func(i *api.Image) []any {
		return []any{i.Label, i.OSArch, i.KernelVersion, i.System, i.Version, i.Visibility, i.DatacenterID, i.DiskID, i.AuthorID, i.Size, unix(i.Created), unix(i.Updated)}
	},
	ptrs: func(i *api.Image) []any {
		return []any{&i.ID, &i.Label, &i.OSArch, &i.KernelVersion, &i.System, &i.Version, &i.Visibility, &i.DatacenterID, &i.DiskID, &i.AuthorID, &i.Size, unixTime{&i.Created}, unixTime{&i.Updated}}
	},
	id: func(i *api.Image) *int64 { return &i.ID },
}

var vmCols = []string{"account_id", "datacenter_id", "hostname", "state", "memory", "vm_max_memory", "cores", "max_cores", "console", "ai_active", "description", "farm", "entity_id", "host", "boot_memory", "date_created", "date_updated"}

var vms = &table[store.VM]{
	text: texts("hostname", "state", "description", "farm", "entity_id", "host"),
	name: "vms", cols: vmCols, scoped: true,
	fields: fieldsOf(vmCols, nil),
	vals: func(v *store.VM) []any {
		return []any{v.AccountID, v.DatacenterID, v.Hostname, v.State, v.Memory, v.MaxMemory, v.Cores, v.MaxCores, b2i(v.Console), v.AIActive, v.Description, v.Farm, v.EntityID, v.Host, v.BootMemory, unix(v.Created), unix(v.Updated)}
	},
	ptrs: func(v *store.VM) []any {
		return []any{&v.ID, &v.AccountID, &v.DatacenterID, &v.Hostname, &v.State, &v.Memory, &v.MaxMemory, &v.Cores, &v.MaxCores, boolInt{&v.Console}, &v.AIActive, &v.Description, &v.Farm, &v.EntityID, &v.Host, &v.BootMemory, unixTime{&v.Created}, unixTime{&v.Updated}}
	},
	id:   func(v *store.VM) *int64 { return &v.ID },
	kind: "vm", event: func(v *store.VM) (int64, any) { return v.AccountID, &v.VM },
}

var diskCols = []string{"account_id", "datacenter_id", "name", "size", "state", "type", "visibility", "kernel_version", "kernel_cmdline", "label", "source", "vm_id", "position", "read_only", "snapshot_profile_id", "entity_id", "host", "date_created", "date_updated"}

var disks = &table[store.Disk]{
	text: texts("name", "state", "type", "visibility", "kernel_version", "kernel_cmdline", "label", "entity_id", "host"),
	name: "disks", cols: diskCols, scoped: true,
	fields: fieldsOf(diskCols, map[string]string{"snapshot_profile": "snapshot_profile_id"}),
	vals: func(d *store.Disk) []any {
		return []any{d.AccountID, d.DatacenterID, d.Name, d.Size, d.State, d.Type, d.Visibility, d.KernelVersion, d.KernelCmdline, d.Label, d.Source, d.VMID, d.Position, b2i(d.ReadOnly), d.SnapshotProfileID, d.EntityID, d.Host, unix(d.Created), unix(d.Updated)}
	},
	ptrs: func(d *store.Disk) []any {
		return []any{&d.ID, &d.AccountID, &d.DatacenterID, &d.Name, &d.Size, &d.State, &d.Type, &d.Visibility, &d.KernelVersion, &d.KernelCmdline, &d.Label, &d.Source, &d.VMID, &d.Position, boolInt{&d.ReadOnly}, &d.SnapshotProfileID, &d.EntityID, &d.Host, unixTime{&d.Created}, unixTime{&d.Updated}}
	},
	id:   func(d *store.Disk) *int64 { return &d.ID },
	kind: "disk", event: func(d *store.Disk) (int64, any) { return d.AccountID, &d.Disk },
}

var ifaceCols = []string{"account_id", "datacenter_id", "num", "type", "state", "bandwidth", "vlan_id", "vm_id", "entity_id", "date_created", "date_updated"}

var ifaces = &table[store.Iface]{
	text: texts("type", "state", "entity_id", "vlan"),
	name: "ifaces", cols: ifaceCols, scoped: true,
	fields: fieldsOf(ifaceCols, map[string]string{"vlan": "(SELECT v.name FROM vlans v WHERE v.id = ifaces.vlan_id)"}),
	vals: func(f *store.Iface) []any {
		return []any{f.AccountID, f.DatacenterID, f.Num, f.Type, f.State, f.Bandwidth, f.VLANID, f.VMID, f.EntityID, unix(f.Created), unix(f.Updated)}
	},
	ptrs: func(f *store.Iface) []any {
		return []any{&f.ID, &f.AccountID, &f.DatacenterID, &f.Num, &f.Type, &f.State, &f.Bandwidth, &f.VLANID, &f.VMID, &f.EntityID, unixTime{&f.Created}, unixTime{&f.Updated}}
	},
	id:   func(f *store.Iface) *int64 { return &f.ID },
	kind: "iface", event: func(f *store.Iface) (int64, any) { return f.AccountID, &f.Iface },
}

var ipCols = []string{"account_id", "datacenter_id", "iface_id", "network", "ip", "version", "num", "reverse", "state", "type", "entity_id", "date_created", "date_updated"}

const ipVMExpr = "(SELECT f.vm_id FROM ifaces f WHERE f.id = ips.iface_id)"

var ips = &table[store.IP]{
	text: texts("network", "ip", "reverse", "state", "type", "entity_id", "vm_hostname"),
	name: "ips", cols: ipCols, scoped: true,
	fields: fieldsOf(ipCols, map[string]string{
		"vm_id":       ipVMExpr,
		"iface_num":   "(SELECT f.num FROM ifaces f WHERE f.id = ips.iface_id)",
		"vm_hostname": "(SELECT v.hostname FROM vms v WHERE v.id = " + ipVMExpr + ")",
	}),
	vals: func(i *store.IP) []any {
		return []any{i.AccountID, i.DatacenterID, i.IfaceID, i.Network, i.IP.IP, i.Version, i.Num, i.Reverse, i.State, i.Type, i.EntityID, unix(i.Created), unix(i.Updated)}
	},
	ptrs: func(i *store.IP) []any {
		return []any{&i.ID, &i.AccountID, &i.DatacenterID, &i.IfaceID, &i.Network, &i.IP.IP, &i.Version, &i.Num, &i.Reverse, &i.State, &i.Type, &i.EntityID, unixTime{&i.Created}, unixTime{&i.Updated}}
	},
	id:   func(i *store.IP) *int64 { return &i.ID },
	kind: "ip", event: func(i *store.IP) (int64, any) { return i.AccountID, &i.IP },
}

var vlanCols = []string{"account_id", "datacenter_id", "name", "subnet", "gateway", "state", "uuid", "entity_id", "date_created", "date_updated"}

var vlans = &table[store.VLAN]{
	text: texts("name", "subnet", "gateway", "state", "entity_id"),
	name: "vlans", cols: vlanCols, scoped: true, fields: fieldsOf(vlanCols, nil),
	vals: func(v *store.VLAN) []any {
		return []any{v.AccountID, v.DatacenterID, v.Name, v.Subnet, v.Gateway, v.State, v.UUID, v.EntityID, unix(v.Created), unix(v.Updated)}
	},
	ptrs: func(v *store.VLAN) []any {
		return []any{&v.ID, &v.AccountID, &v.DatacenterID, &v.Name, &v.Subnet, &v.Gateway, &v.State, &v.UUID, &v.EntityID, unixTime{&v.Created}, unixTime{&v.Updated}}
	},
	id:   func(v *store.VLAN) *int64 { return &v.ID },
	kind: "vlan", event: func(v *store.VLAN) (int64, any) { return v.AccountID, &v.VLAN },
}

var sshCols = []string{"account_id", "name", "fingerprint", "value", "date_created"}

var sshKeys = &table[store.SSHKey]{
	text: texts("name", "fingerprint", "value"),
	name: "ssh_keys", cols: sshCols, scoped: true, fields: fieldsOf(sshCols, nil),
	vals: func(k *store.SSHKey) []any {
		return []any{k.AccountID, k.Name, k.Fingerprint, k.Value, unix(k.Created)}
	},
	ptrs: func(k *store.SSHKey) []any {
		return []any{&k.ID, &k.AccountID, &k.Name, &k.Fingerprint, &k.Value, unixTime{&k.Created}}
	},
	id:   func(k *store.SSHKey) *int64 { return &k.ID },
	kind: "ssh_key", event: func(k *store.SSHKey) (int64, any) { return k.AccountID, &k.SSHKey },
}

var opCols = []string{"account_id", "type", "step", "source", "vm_id", "disk_id", "iface_id", "ip_id", "vlan_id", "datacenter_id", "params", "spec", "last_error", "eta", "queue", "date_created", "date_updated", "date_start"}

// operationRow carries the JSON params between the record and its column.
type operationRow struct {
	store.Operation
	params string
}

var operations = &table[operationRow]{
	text: texts("type", "step", "source", "params", "spec", "last_error", "queue"),
	name: "operations", cols: opCols, scoped: true,
	fields: fieldsOf(opCols, map[string]string{"date_created": "date_created"}),
	vals: func(o *operationRow) []any {
		return []any{o.AccountID, o.Type, o.Step, o.Source, o.VMID, o.DiskID, o.IfaceID, o.IPID, o.VLANID, o.DatacenterID, o.params, string(o.Spec), o.LastError, o.ETA, o.Queue, unix(o.Created), unix(o.Updated), unixPtr(o.Started)}
	},
	ptrs: func(o *operationRow) []any {
		return []any{&o.ID, &o.AccountID, &o.Type, &o.Step, &o.Source, &o.VMID, &o.DiskID, &o.IfaceID, &o.IPID, &o.VLANID, &o.DatacenterID, &o.params, (*bytesCol)(&o.Spec), &o.LastError, &o.ETA, &o.Queue, unixTime{&o.Created}, unixTime{&o.Updated}, unixPtrScan{&o.Started}}
	},
	id:   func(o *operationRow) *int64 { return &o.ID },
	kind: "operation", event: func(o *operationRow) (int64, any) { return o.AccountID, &o.Operation.Operation },
}

func toRow(o *store.Operation) (*operationRow, error) {
	p := o.Params
	if p == nil {
		p = map[string]any{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("operation params: %w", err)
	}
	if o.Spec == nil {
		o.Spec = []byte("{}")
	}
	return &operationRow{Operation: *o, params: string(b)}, nil
}

func fromRow(r *operationRow) (*store.Operation, error) {
	o := r.Operation
	d := json.NewDecoder(stringsReader(r.params))
	d.UseNumber()
	if err := d.Decode(&o.Params); err != nil {
		return nil, fmt.Errorf("operation %d params: %w", o.ID, err)
	}
	for k, v := range o.Params {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				o.Params[k] = i
			} else if f, err := n.Float64(); err == nil {
				o.Params[k] = f
			}
		}
	}
	return &o, nil
}
