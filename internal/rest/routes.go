package rest

import (
	"context"
	"net/http"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
)

// Request bodies. Pointers are optional members.

type vmCreateBody struct {
	DatacenterID int64   `json:"datacenter_id"`
	Hostname     string  `json:"hostname"`
	Memory       int64   `json:"memory"`
	Cores        int64   `json:"cores"`
	IPVersion    int64   `json:"ip_version"`
	Bandwidth    float64 `json:"bandwidth"`
	Login        string  `json:"login"`
	Password     string  `json:"password"`
	SSHKey       string  `json:"ssh_key"`
	Keys         []int64 `json:"keys"`
	Run          string  `json:"run"`
	Script       string  `json:"script"`
	Description  string  `json:"description"`
	SrcDiskID    *int64  `json:"src_disk_id"`
	Disk         struct {
		Name            string `json:"name"`
		Size            int64  `json:"size"`
		SnapshotProfile int64  `json:"snapshot_profile"`
	} `json:"disk"`
}

type vmUpdateBody struct {
	Memory    *int64  `json:"memory"`
	Cores     *int64  `json:"cores"`
	MaxMemory *int64  `json:"max_memory"`
	Console   *bool   `json:"console"`
	Hostname  *string `json:"hostname"`
	Password  *string `json:"password"`
}

type vmActionBody struct {
	DiskID   *int64 `json:"disk_id"`
	IfaceID  *int64 `json:"iface_id"`
	Position *int64 `json:"position"`
	ReadOnly bool   `json:"read_only"`
}

type diskCreateBody struct {
	DatacenterID    int64  `json:"datacenter_id"`
	Name            string `json:"name"`
	Size            int64  `json:"size"`
	SnapshotProfile int64  `json:"snapshot_profile"`
	SrcDiskID       *int64 `json:"src_disk_id"`
}

type diskUpdateBody = ops.DiskUpdateSpec

type snapshotBody struct {
	Name string `json:"name"`
}

type ifaceCreateBody struct {
	DatacenterID int64   `json:"datacenter_id"`
	IPVersion    int64   `json:"ip_version"`
	Bandwidth    float64 `json:"bandwidth"`
	VLANID       int64   `json:"vlan_id"`
	IP           string  `json:"ip"`
}

type ifaceUpdateBody = ops.IfaceUpdateSpec

type ipUpdateBody struct {
	Reverse *string `json:"reverse"`
}

type vlanCreateBody struct {
	DatacenterID int64  `json:"datacenter_id"`
	Name         string `json:"name"`
	Subnet       string `json:"subnet"`
	Gateway      string `json:"gateway"`
}

type vlanUpdateBody = ops.VLANUpdateSpec

type sshKeyBody struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type creditsBody struct {
	Credits int64 `json:"credits"`
}

func (a *API) routes() []route {
	s := a.svc
	return []route{
		{method: "GET", path: "/v1/account", kind: read, obj: api.ObjHosting, doc: opDoc{"account", "Your account: credits and prepaid balance", "", "AccountResponse", false},
			fn: func(cl *call) (any, error) {
				acc, err := s.AccountInfo(cl.ctx, cl.c)
				if err != nil {
					return nil, err
				}
				return map[string]any{"account": accountJSON{ID: acc.ID, Handle: acc.Handle, FullName: acc.FullName, Credits: acc.Credits,
					PrepaidCents: acc.PrepaidCents, Currency: s.Currency(), Created: acc.Created}}, nil
			}},
		{method: "POST", path: "/v1/account/actions/buy_credits", kind: opOne, obj: api.ObjHosting, doc: opDoc{"account", "Buy credits with the prepaid balance (account.credit)", "CreditsRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b creditsBody
				if err := decode(cl, api.ObjHosting, &b); err != nil {
					return nil, err
				}
				return single(s.BuyCredits(cl.ctx, cl.c, b.Credits))
			}},
		{method: "GET", path: "/v1/datacenters", kind: read, obj: api.ObjDatacenter, doc: opDoc{"datacenters", "List datacenters", "", "DatacenterList", true},
			fn: localList("datacenters", api.ObjDatacenter, func(_ context.Context, o api.ListOptions) ([]api.Datacenter, error) { return s.Datacenters(o), nil }, datacenterOf)},
		{method: "GET", path: "/v1/datacenters/{id}", kind: read, obj: api.ObjDatacenter, doc: opDoc{"datacenters", "Get a datacenter", "", "DatacenterResponse", false},
			fn: func(cl *call) (any, error) {
				d, err := s.DatacenterInfo(cl.id)
				if err != nil {
					return nil, err
				}
				return map[string]any{"datacenter": datacenterOf(d)}, nil
			}},
		{method: "GET", path: "/v1/images", kind: read, obj: api.ObjImage, doc: opDoc{"images", "List images", "", "ImageList", true},
			fn: localList("images", api.ObjImage, s.ImageList, imageOf)},
		{method: "GET", path: "/v1/images/{id}", kind: read, obj: api.ObjImage, doc: opDoc{"images", "Get an image", "", "ImageResponse", false},
			fn: one("image", func(ctx context.Context, _ *service.Caller, id int64) (*api.Image, error) {
				return s.ImageInfo(ctx, id)
			}, func(i *api.Image) imageJSON { return imageOf(*i) })},

		{method: "GET", path: "/v1/vms", kind: read, obj: api.ObjVM, doc: opDoc{"vms", "List VMs (filters: hostname, ~hostname, state, datacenter_id)", "", "VMList", true},
			fn: pagedList("vms", api.ObjVM, s.VMList, s.VMCount, vmOf)},
		{method: "POST", path: "/v1/vms", kind: opMany, obj: api.ObjVM, doc: opDoc{"vms", "Create a VM with its system disk copied from src_disk_id (vm.create_from)", "VMCreateRequest", "OperationsResponse", false},
			fn: func(cl *call) (any, error) {
				var b vmCreateBody
				if err := decode(cl, api.ObjVM, &b); err != nil {
					return nil, err
				}
				if err := need(api.ObjVM, "src_disk_id", b.SrcDiskID != nil); err != nil {
					return nil, err
				}
				v := service.VMSpec{DatacenterID: b.DatacenterID, Hostname: b.Hostname, Memory: b.Memory, Cores: b.Cores, IPVersion: b.IPVersion,
					Bandwidth: b.Bandwidth, Login: b.Login, Password: b.Password, SSHKey: b.SSHKey, Keys: b.Keys, Run: b.Run, Script: b.Script, Description: b.Description}
				d := service.DiskSpec{DatacenterID: b.DatacenterID, Name: b.Disk.Name, Size: b.Disk.Size, SnapshotProfile: b.Disk.SnapshotProfile}
				list, err := s.VMCreateFrom(cl.ctx, cl.c, v, d, *b.SrcDiskID)
				if err != nil {
					return nil, err
				}
				return list, nil
			}},
		{method: "GET", path: "/v1/vms/{id}", kind: read, obj: api.ObjVM, doc: opDoc{"vms", "Get a VM with its disks, ifaces and IPs", "", "VMResponse", false},
			fn: one("vm", s.VMInfo, vmDetailOf)},
		{method: "PATCH", path: "/v1/vms/{id}", kind: opOne, obj: api.ObjVM, doc: opDoc{"vms", "Change memory, cores, max_memory, console, hostname or password (vm.update)", "VMUpdateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b vmUpdateBody
				if err := decode(cl, api.ObjVM, &b); err != nil {
					return nil, err
				}
				return single(s.VMUpdate(cl.ctx, cl.c, cl.id, service.VMUpdate{Memory: b.Memory, Cores: b.Cores, MaxMemory: b.MaxMemory, Console: b.Console, Hostname: b.Hostname, Password: b.Password}))
			}},
		{method: "DELETE", path: "/v1/vms/{id}", kind: opOne, obj: api.ObjVM, doc: opDoc{"vms", "Delete a halted VM", "", "OperationResponse", false}, fn: opOf(s.VMDelete)},
		{method: "POST", path: "/v1/vms/{id}/actions/{action}", kind: opOne, obj: api.ObjVM, doc: opDoc{"vms", "start, stop, reboot, attach_disk {disk_id, position, read_only}, detach_disk {disk_id}, attach_iface {iface_id}, detach_iface {iface_id}", "VMActionRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b vmActionBody
				if err := decode(cl, api.ObjVM, &b); err != nil {
					return nil, err
				}
				switch cl.action {
				case "start":
					return single(s.VMStart(cl.ctx, cl.c, cl.id))
				case "stop":
					return single(s.VMStop(cl.ctx, cl.c, cl.id))
				case "reboot":
					return single(s.VMReboot(cl.ctx, cl.c, cl.id))
				case "attach_disk", "detach_disk":
					if err := need(api.ObjVM, "disk_id", b.DiskID != nil); err != nil {
						return nil, err
					}
					if cl.action == "detach_disk" {
						return single(s.DiskDetach(cl.ctx, cl.c, cl.id, *b.DiskID))
					}
					pos := int64(-1)
					if b.Position != nil {
						if *b.Position < 0 {
							return nil, api.Errorf(api.Invalid, api.ObjVM, "options: position %d is negative", *b.Position)
						}
						pos = *b.Position
					}
					return single(s.DiskAttach(cl.ctx, cl.c, cl.id, *b.DiskID, pos, b.ReadOnly))
				case "attach_iface", "detach_iface":
					if err := need(api.ObjVM, "iface_id", b.IfaceID != nil); err != nil {
						return nil, err
					}
					if cl.action == "detach_iface" {
						return single(s.IfaceDetach(cl.ctx, cl.c, cl.id, *b.IfaceID))
					}
					return single(s.IfaceAttach(cl.ctx, cl.c, cl.id, *b.IfaceID))
				}
				return nil, api.Errorf(api.Invalid, api.ObjVM, "unknown action %q", truncate(cl.action, 40))
			}},

		{method: "GET", path: "/v1/disks", kind: read, obj: api.ObjDisk, doc: opDoc{"disks", "List disks (filters: name, ~name, vm_id, type, state, datacenter_id)", "", "DiskList", true},
			fn: pagedList("disks", api.ObjDisk, s.DiskList, s.DiskCount, diskOf)},
		{method: "POST", path: "/v1/disks", kind: opOne, obj: api.ObjDisk, doc: opDoc{"disks", "Create an empty disk, or a copy of src_disk_id", "DiskCreateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b diskCreateBody
				if err := decode(cl, api.ObjDisk, &b); err != nil {
					return nil, err
				}
				d := service.DiskSpec{DatacenterID: b.DatacenterID, Name: b.Name, Size: b.Size, SnapshotProfile: b.SnapshotProfile}
				if b.SrcDiskID != nil {
					return single(s.DiskCreateFrom(cl.ctx, cl.c, d, *b.SrcDiskID))
				}
				return single(s.DiskCreate(cl.ctx, cl.c, d))
			}},
		{method: "GET", path: "/v1/disks/{id}", kind: read, obj: api.ObjDisk, doc: opDoc{"disks", "Get a disk", "", "DiskResponse", false},
			fn: one("disk", s.DiskInfo, func(d *api.Disk) diskJSON { return diskOf(*d) })},
		{method: "PATCH", path: "/v1/disks/{id}", kind: opOne, obj: api.ObjDisk, doc: opDoc{"disks", "Rename, grow, or set the kernel of a disk (disk.update)", "DiskUpdateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b diskUpdateBody
				if err := decode(cl, api.ObjDisk, &b); err != nil {
					return nil, err
				}
				return single(s.DiskUpdate(cl.ctx, cl.c, cl.id, b))
			}},
		{method: "DELETE", path: "/v1/disks/{id}", kind: opOne, obj: api.ObjDisk, doc: opDoc{"disks", "Delete a detached disk", "", "OperationResponse", false}, fn: opOf(s.DiskDelete)},
		{method: "POST", path: "/v1/disks/{id}/actions/snapshot", kind: opOne, obj: api.ObjDisk, doc: opDoc{"disks", "Snapshot a disk", "SnapshotRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b snapshotBody
				if err := decode(cl, api.ObjDisk, &b); err != nil {
					return nil, err
				}
				return single(s.DiskCreateFrom(cl.ctx, cl.c, service.DiskSpec{Name: b.Name, Type: api.DiskSnapshot}, cl.id))
			}},
		{method: "POST", path: "/v1/disks/{id}/actions/rollback", kind: opOne, obj: api.ObjDisk, doc: opDoc{"disks", "Roll the snapshot {id}'s source disk back to it (disk.rollback_from)", "", "OperationResponse", false},
			fn: opOf(s.DiskRollback)},

		{method: "GET", path: "/v1/ifaces", kind: read, obj: api.ObjIface, doc: opDoc{"ifaces", "List network interfaces (filters: vm_id, state, type, datacenter_id)", "", "IfaceList", true},
			fn: pagedList("ifaces", api.ObjIface, s.IfaceList, s.IfaceCount, ifaceOf)},
		{method: "POST", path: "/v1/ifaces", kind: opOne, obj: api.ObjIface, doc: opDoc{"ifaces", "Create a public (ip_version 4 or 6) or private (vlan_id) interface", "IfaceCreateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b ifaceCreateBody
				if err := decode(cl, api.ObjIface, &b); err != nil {
					return nil, err
				}
				return single(s.IfaceCreate(cl.ctx, cl.c, service.IfaceSpec{DatacenterID: b.DatacenterID, IPVersion: b.IPVersion, Bandwidth: b.Bandwidth, VLAN: b.VLANID, IP: b.IP}))
			}},
		{method: "GET", path: "/v1/ifaces/{id}", kind: read, obj: api.ObjIface, doc: opDoc{"ifaces", "Get an interface with its IPs", "", "IfaceResponse", false},
			fn: one("iface", s.IfaceInfo, func(d *service.IfaceDetail) ifaceJSON { return ifaceDetailOf(*d) })},
		{method: "PATCH", path: "/v1/ifaces/{id}", kind: opOne, obj: api.ObjIface, doc: opDoc{"ifaces", "Change an interface's bandwidth", "IfaceUpdateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b ifaceUpdateBody
				if err := decode(cl, api.ObjIface, &b); err != nil {
					return nil, err
				}
				return single(s.IfaceUpdate(cl.ctx, cl.c, cl.id, b))
			}},
		{method: "DELETE", path: "/v1/ifaces/{id}", kind: opOne, obj: api.ObjIface, doc: opDoc{"ifaces", "Delete a detached interface and its IPs", "", "OperationResponse", false}, fn: opOf(s.IfaceDelete)},

		{method: "GET", path: "/v1/ips", kind: read, obj: api.ObjIP, doc: opDoc{"ips", "List IP addresses (filters: version, iface_id, vm_id, ip)", "", "IPList", true},
			fn: pagedList("ips", api.ObjIP, s.IPList, s.IPCount, ipOf)},
		{method: "GET", path: "/v1/ips/{id}", kind: read, obj: api.ObjIP, doc: opDoc{"ips", "Get an IP address", "", "IPResponse", false},
			fn: one("ip", s.IPInfo, func(i *api.IP) ipJSON { return ipOf(*i) })},
		{method: "PATCH", path: "/v1/ips/{id}", kind: opOne, obj: api.ObjIP, doc: opDoc{"ips", "Set an address's reverse DNS name", "IPUpdateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b ipUpdateBody
				if err := decode(cl, api.ObjIP, &b); err != nil {
					return nil, err
				}
				if err := need(api.ObjIP, "reverse", b.Reverse != nil); err != nil {
					return nil, err
				}
				return single(s.IPUpdate(cl.ctx, cl.c, cl.id, *b.Reverse))
			}},

		{method: "GET", path: "/v1/vlans", kind: read, obj: api.ObjVLAN, doc: opDoc{"vlans", "List VLANs", "", "VLANList", true},
			fn: pagedList("vlans", api.ObjVLAN, s.VLANList, s.VLANCount, vlanOf)},
		{method: "POST", path: "/v1/vlans", kind: opOne, obj: api.ObjVLAN, doc: opDoc{"vlans", "Create a VLAN", "VLANCreateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b vlanCreateBody
				if err := decode(cl, api.ObjVLAN, &b); err != nil {
					return nil, err
				}
				return single(s.VLANCreate(cl.ctx, cl.c, service.VLANSpec{DatacenterID: b.DatacenterID, Name: b.Name, Subnet: b.Subnet, Gateway: b.Gateway}))
			}},
		{method: "GET", path: "/v1/vlans/{id}", kind: read, obj: api.ObjVLAN, doc: opDoc{"vlans", "Get a VLAN", "", "VLANResponse", false},
			fn: one("vlan", s.VLANInfo, func(v *api.VLAN) vlanJSON { return vlanOf(*v) })},
		{method: "PATCH", path: "/v1/vlans/{id}", kind: opOne, obj: api.ObjVLAN, doc: opDoc{"vlans", "Rename a VLAN or change its gateway", "VLANUpdateRequest", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				var b vlanUpdateBody
				if err := decode(cl, api.ObjVLAN, &b); err != nil {
					return nil, err
				}
				return single(s.VLANUpdate(cl.ctx, cl.c, cl.id, b))
			}},
		{method: "DELETE", path: "/v1/vlans/{id}", kind: opOne, obj: api.ObjVLAN, doc: opDoc{"vlans", "Delete a VLAN without interfaces", "", "OperationResponse", false}, fn: opOf(s.VLANDelete)},

		{method: "GET", path: "/v1/ssh_keys", kind: read, obj: api.ObjSSHKey, doc: opDoc{"ssh_keys", "List SSH keys", "", "SSHKeyList", true},
			fn: pagedList("ssh_keys", api.ObjSSHKey, s.SSHKeyList, s.SSHKeyCount, sshKeyOf)},
		{method: "POST", path: "/v1/ssh_keys", kind: keyMade, obj: api.ObjSSHKey, doc: opDoc{"ssh_keys", "Add an SSH public key", "SSHKeyCreateRequest", "SSHKeyResponse", false},
			fn: func(cl *call) (any, error) {
				var b sshKeyBody
				if err := decode(cl, api.ObjSSHKey, &b); err != nil {
					return nil, err
				}
				return s.SSHKeyCreate(cl.ctx, cl.c, b.Name, b.Value)
			}},
		{method: "GET", path: "/v1/ssh_keys/{id}", kind: read, obj: api.ObjSSHKey, doc: opDoc{"ssh_keys", "Get an SSH key", "", "SSHKeyResponse", false},
			fn: one("ssh_key", s.SSHKeyInfo, func(k *api.SSHKey) sshKeyJSON { return sshKeyOf(*k) })},
		{method: "DELETE", path: "/v1/ssh_keys/{id}", kind: noContent, obj: api.ObjSSHKey, doc: opDoc{"ssh_keys", "Delete an SSH key", "", "", false},
			fn: func(cl *call) (any, error) { return nil, s.SSHKeyDelete(cl.ctx, cl.c, cl.id) }},

		{method: "GET", path: "/v1/operations", kind: read, obj: api.ObjOperation, doc: opDoc{"operations", "List operations (filters: step, type, vm_id, disk_id)", "", "OperationList", true},
			fn: pagedList("operations", api.ObjOperation, s.OperationList, s.OperationCount, operationOf)},
		{method: "GET", path: "/v1/operations/{id}", kind: read, obj: api.ObjOperation, doc: opDoc{"operations", "Get an operation", "", "OperationResponse", false},
			fn: one("operation", s.OperationInfo, func(o *api.Operation) operationJSON { return operationOf(*o) })},
		{method: "DELETE", path: "/v1/operations/{id}", kind: opSync, obj: api.ObjOperation, doc: opDoc{"operations", "Cancel an operation in BILL or WAIT", "", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				if err := s.OperationCancel(cl.ctx, cl.c, cl.id); err != nil {
					return nil, err
				}
				return single(s.OperationInfo(cl.ctx, cl.c, cl.id))
			}},
		{method: "POST", path: "/v1/operations/{id}/actions/relaunch", kind: opOne, obj: api.ObjOperation, doc: opDoc{"operations", "Relaunch an operation in ERROR", "", "OperationResponse", false},
			fn: func(cl *call) (any, error) {
				if err := s.OperationRelaunch(cl.ctx, cl.c, cl.id); err != nil {
					return nil, err
				}
				return single(s.OperationInfo(cl.ctx, cl.c, cl.id))
			}},
		a.auditRoute(),
	}
}

var _ = http.MethodGet
