package rest

import (
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The JSON shapes of /v1: Hetzner-like objects with Gandi's nouns. openapi.go describes
// each one; the tests validate every response against that document.

type datacenterJSON struct {
	ID            int64   `json:"id"`
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	Country       string  `json:"country"`
	ISO           string  `json:"iso"`
	IaaSClosedFor string  `json:"iaas_closed_for"`
	CanMigrateTo  []int64 `json:"can_migrate_to"`
}

func datacenterOf(d api.Datacenter) datacenterJSON {
	return datacenterJSON{ID: d.ID, Code: d.Code, Name: d.Name, Country: d.Country, ISO: d.ISO, IaaSClosedFor: d.IaaSClosedFor, CanMigrateTo: ids(d.CanMigrateTo)}
}

type imageJSON struct {
	ID            int64     `json:"id"`
	Label         string    `json:"label"`
	OSArch        string    `json:"os_arch"`
	KernelVersion string    `json:"kernel_version"`
	DatacenterID  int64     `json:"datacenter_id"`
	DiskID        int64     `json:"disk_id"`
	Size          int64     `json:"size"`
	Visibility    string    `json:"visibility"`
	Created       time.Time `json:"created"`
}

func imageOf(i api.Image) imageJSON {
	return imageJSON{ID: i.ID, Label: i.Label, OSArch: i.OSArch, KernelVersion: i.KernelVersion, DatacenterID: i.DatacenterID, DiskID: i.DiskID, Size: i.Size, Visibility: i.Visibility, Created: i.Created}
}

type vmJSON struct {
	ID           int64        `json:"id"`
	Hostname     string       `json:"hostname"`
	State        string       `json:"state"`
	DatacenterID int64        `json:"datacenter_id"`
	Memory       int64        `json:"memory"`
	MaxMemory    int64        `json:"max_memory"`
	Cores        int64        `json:"cores"`
	MaxCores     int64        `json:"max_cores"`
	Console      bool         `json:"console"`
	Description  string       `json:"description"`
	DisksID      []int64      `json:"disks_id"`
	IfacesID     []int64      `json:"ifaces_id"`
	Created      time.Time    `json:"created"`
	Updated      time.Time    `json:"updated"`
	Disks        *[]diskJSON  `json:"disks,omitempty"`
	Ifaces       *[]ifaceJSON `json:"ifaces,omitempty"`
}

func vmOf(v api.VM) vmJSON {
	return vmJSON{ID: v.ID, Hostname: v.Hostname, State: v.State, DatacenterID: v.DatacenterID, Memory: v.Memory, MaxMemory: v.MaxMemory,
		Cores: v.Cores, MaxCores: v.MaxCores, Console: v.Console, Description: v.Description, DisksID: ids(v.DisksID), IfacesID: ids(v.IfacesID),
		Created: v.Created, Updated: v.Updated}
}

func vmDetailOf(d *service.VMDetail) vmJSON {
	v := vmOf(d.VM)
	disks := make([]diskJSON, len(d.Disks))
	for i, x := range d.Disks {
		disks[i] = diskOf(x)
	}
	ifaces := make([]ifaceJSON, len(d.Ifaces))
	for i, x := range d.Ifaces {
		ifaces[i] = ifaceDetailOf(x)
	}
	v.Disks, v.Ifaces = &disks, &ifaces
	return v
}

type diskJSON struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	Size            int64     `json:"size"`
	State           string    `json:"state"`
	Type            string    `json:"type"`
	DatacenterID    int64     `json:"datacenter_id"`
	KernelVersion   string    `json:"kernel_version"`
	Label           string    `json:"label"`
	SourceID        int64     `json:"source_id"`
	VMID            int64     `json:"vm_id"`
	Position        int64     `json:"position"`
	ReadOnly        bool      `json:"read_only"`
	SnapshotsID     []int64   `json:"snapshots_id"`
	SnapshotProfile int64     `json:"snapshot_profile"`
	Created         time.Time `json:"created"`
	Updated         time.Time `json:"updated"`
}

func diskOf(d api.Disk) diskJSON {
	return diskJSON{ID: d.ID, Name: d.Name, Size: d.Size, State: d.State, Type: d.Type, DatacenterID: d.DatacenterID, KernelVersion: d.KernelVersion,
		Label: d.Label, SourceID: d.Source, VMID: d.VMID, Position: d.Position, ReadOnly: d.ReadOnly, SnapshotsID: ids(d.SnapshotsID),
		SnapshotProfile: d.SnapshotProfileID, Created: d.Created, Updated: d.Updated}
}

type ifaceJSON struct {
	ID           int64     `json:"id"`
	DatacenterID int64     `json:"datacenter_id"`
	Num          int64     `json:"num"`
	Type         string    `json:"type"`
	State        string    `json:"state"`
	Bandwidth    float64   `json:"bandwidth"`
	VLANID       int64     `json:"vlan_id"`
	VMID         int64     `json:"vm_id"`
	IPsID        []int64   `json:"ips_id"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	IPs          *[]ipJSON `json:"ips,omitempty"`
}

func ifaceOf(f api.Iface) ifaceJSON {
	j := ifaceJSON{ID: f.ID, DatacenterID: f.DatacenterID, Num: f.Num, Type: f.Type, State: f.State, Bandwidth: f.Bandwidth, VMID: f.VMID,
		IPsID: ids(f.IPsID), Created: f.Created, Updated: f.Updated}
	if f.VLAN != nil {
		j.VLANID = f.VLAN.ID
	}
	return j
}

func ifaceDetailOf(d service.IfaceDetail) ifaceJSON {
	j := ifaceOf(d.Iface)
	ips := make([]ipJSON, len(d.IPs))
	for i, x := range d.IPs {
		ips[i] = ipOf(x)
	}
	j.IPs = &ips
	return j
}

type ipJSON struct {
	ID           int64     `json:"id"`
	IP           string    `json:"ip"`
	Version      int64     `json:"version"`
	Reverse      string    `json:"reverse"`
	State        string    `json:"state"`
	IfaceID      int64     `json:"iface_id"`
	VMID         int64     `json:"vm_id"`
	DatacenterID int64     `json:"datacenter_id"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

func ipOf(i api.IP) ipJSON {
	return ipJSON{ID: i.ID, IP: i.IP, Version: i.Version, Reverse: i.Reverse, State: i.State, IfaceID: i.IfaceID, VMID: i.VMID,
		DatacenterID: i.DatacenterID, Created: i.Created, Updated: i.Updated}
}

type vlanJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	DatacenterID int64     `json:"datacenter_id"`
	Subnet       string    `json:"subnet"`
	Gateway      string    `json:"gateway"`
	State        string    `json:"state"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

func vlanOf(v api.VLAN) vlanJSON {
	return vlanJSON{ID: v.ID, Name: v.Name, DatacenterID: v.DatacenterID, Subnet: v.Subnet, Gateway: v.Gateway, State: v.State, Created: v.Created, Updated: v.Updated}
}

type sshKeyJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Value       string `json:"value"`
}

func sshKeyOf(k api.SSHKey) sshKeyJSON {
	return sshKeyJSON{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, Value: k.Value}
}

type resourceJSON struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

type operationJSON struct {
	ID        int64          `json:"id"`
	Type      string         `json:"type"`
	Step      string         `json:"step"`
	Resources []resourceJSON `json:"resources"`
	Error     string         `json:"error"`
	ETA       int64          `json:"eta"`
	Created   time.Time      `json:"created"`
	Updated   time.Time      `json:"updated"`
	Started   *time.Time     `json:"started"`
}

func operationOf(o api.Operation) operationJSON {
	j := operationJSON{ID: o.ID, Type: o.Type, Step: o.Step, Error: o.LastError, ETA: o.ETA, Created: o.Created, Updated: o.Updated, Started: o.Started, Resources: []resourceJSON{}}
	for _, r := range []resourceJSON{{"vm", o.VMID}, {"disk", o.DiskID}, {"iface", o.IfaceID}, {"ip", o.IPID}, {"vlan", o.VLANID}, {"datacenter", o.DatacenterID}} {
		if r.ID != 0 {
			j.Resources = append(j.Resources, r)
		}
	}
	return j
}

type accountJSON struct {
	ID           int64     `json:"id"`
	Handle       string    `json:"handle"`
	FullName     string    `json:"full_name"`
	Credits      int64     `json:"credits"`
	PrepaidCents int64     `json:"prepaid_cents"`
	Currency     string    `json:"currency"`
	Created      time.Time `json:"created"`
}

type paginationJSON struct {
	Page         int64  `json:"page"`
	PerPage      int64  `json:"per_page"`
	PreviousPage *int64 `json:"previous_page"`
	NextPage     *int64 `json:"next_page"`
	LastPage     int64  `json:"last_page"`
	TotalEntries int64  `json:"total_entries"`
}

type metaJSON struct {
	Pagination paginationJSON `json:"pagination"`
}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	FaultCode int    `json:"fault_code"`
}

// ids never renders null: an empty list is [].
func ids(v []int64) []int64 {
	if v == nil {
		return []int64{}
	}
	return v
}
