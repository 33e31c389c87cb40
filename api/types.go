package api

import "time"

// VM states (gandi-api.md §4.1).
const (
	VMBeingCreated = "being_created"
	VMRunning      = "running"
	VMHalted       = "halted"
	VMPaused       = "paused"
	VMLocked       = "locked"
	VMInvalid      = "invalid"
	VMDeleted      = "deleted"
)

// Disk, iface and IP states (D11).
const (
	StateBeingCreated = "being_created"
	StateCreated      = "created"
	IfaceUsed         = "used"
	IfaceFree         = "free"
)

// Disk types.
const (
	DiskData     = "data"
	DiskSnapshot = "snapshot"
)

// Operation steps (gandi-api.md §4.4).
const (
	StepBill   = "BILL"
	StepWait   = "WAIT"
	StepRun    = "RUN"
	StepDone   = "DONE"
	StepError  = "ERROR"
	StepCancel = "CANCEL"
)

// Terminal reports whether step is a final operation step.
func Terminal(step string) bool {
	return step == StepDone || step == StepError || step == StepCancel
}

// Datacenter is a location where VMs, disks and addresses live.
type Datacenter struct {
	ID            int64
	Code          string // dc_code, e.g. FR-SD5
	Name          string
	Country       string
	ISO           string
	IaaSClosedFor string // NONE, NEW or ALL
	PaaSClosedFor string
	DeactivateAt  *time.Time
	CanMigrateTo  []int64
}

// Image is a public disk users create VMs and disks from.
type Image struct {
	ID            int64
	Label         string
	OSArch        string
	KernelVersion string
	System        string
	Version       string
	Visibility    string
	DatacenterID  int64
	DiskID        int64
	AuthorID      int64
	Size          int64 // MB
	Created       time.Time
	Updated       time.Time
}

// VM is a virtual machine.
type VM struct {
	ID           int64
	DatacenterID int64
	Hostname     string
	State        string
	Memory       int64 // MB
	MaxMemory    int64 // MB, vm_max_memory
	Cores        int64
	MaxCores     int64
	Console      bool
	AIActive     int64
	Description  string
	Farm         string
	EntityID     string
	DisksID      []int64 // position order; [0] is the boot disk
	IfacesID     []int64 // num order
	Created      time.Time
	Updated      time.Time
	// GuestAgent says whether the guest agent of the running VM answers: "up", "down",
	// or "" when not known (a Berth extension).
	GuestAgent string
	// Migrating: a migration to another datacenter is unfinished (is_migrating).
	Migrating bool
}

// Disk is a block device, attached to at most one VM.
type Disk struct {
	ID                int64
	DatacenterID      int64
	Name              string
	Size              int64 // MB
	State             string
	Type              string // data or snapshot
	Visibility        string
	KernelVersion     string
	KernelCmdline     string // "" means none
	Label             string
	Source            int64 // source disk id, 0 when none
	VMID              int64 // 0 when detached
	Position          int64 // position on VMID; meaningful only when attached
	ReadOnly          bool
	SnapshotsID       []int64
	SnapshotProfileID int64 // 0 when none
	EntityID          string
	Created           time.Time
	Updated           time.Time
	Migrating         bool // being moved to another host of its datacenter (disk.info)
}

// BootDisk reports whether the disk is the position-0 disk of a VM.
func (d *Disk) BootDisk() bool { return d.VMID != 0 && d.Position == 0 }

// Iface is a network interface, attached to at most one VM.
type Iface struct {
	ID           int64
	DatacenterID int64
	Num          int64  // position on the VM; -1 when detached
	Type         string // public or private
	State        string // used or free
	Bandwidth    float64
	VLAN         *VLANRef
	VMID         int64
	IPsID        []int64
	EntityID     string
	Created      time.Time
	Updated      time.Time
}

// VLANRef is the short VLAN reference nested in an iface.
type VLANRef struct {
	ID       int64
	Name     string
	EntityID string
}

// IP is an address of an iface.
type IP struct {
	ID           int64
	IfaceID      int64
	DatacenterID int64
	IP           string // "" while being created
	Version      int64
	Num          int64
	IfaceNum     int64 // num of the iface on its VM; -1 when detached
	Reverse      string
	State        string
	Type         string
	Bandwidth    float64
	VMID         int64
	EntityID     string
	Created      time.Time
	Updated      time.Time
}

// VLAN is a private network.
type VLAN struct {
	ID           int64
	DatacenterID int64
	Name         string
	Subnet       string
	Gateway      string
	State        string
	UUID         int64
	EntityID     string
	Created      time.Time
	Updated      time.Time
}

// SSHKey is a public key an account stores for its VMs.
type SSHKey struct {
	ID          int64
	Name        string
	Fingerprint string
	Value       string
}

// Operation is an asynchronous piece of work and its progress.
type Operation struct {
	ID           int64
	Type         string
	Step         string
	Source       string // account handle
	VMID         int64
	DiskID       int64
	IfaceID      int64
	IPID         int64
	VLANID       int64
	DatacenterID int64
	Params       map[string]any
	LastError    string
	ETA          int64
	Created      time.Time
	Updated      time.Time
	Started      *time.Time
}

// Account is a tenant.
type Account struct {
	ID           int64
	Handle       string
	FullName     string
	Credits      int64 // whole credits
	PrepaidCents int64
	Created      time.Time
}

// Rating is the hourly credit cost of one unit of each resource: a core, a GB of memory, a
// GB of disk, a public IPv4 or IPv6 address, a VM.
type Rating struct {
	CPU          int64
	RAM          int64
	DiskData     int64
	DiskSnapshot int64
	IPv4         int64
	IPv6         int64
	Instance     int64
	Timestamp    time.Time
}

// FilterOp is how a list filter compares.
type FilterOp int

// Filter operators.
const (
	OpEq   FilterOp = iota // scalar equality
	OpIn                   // value in a list
	OpLike                 // SQL LIKE
)

// Filter is one condition of a list or count.
type Filter struct {
	Field  string
	Op     FilterOp
	Values []any // one value for OpEq and OpLike
}

// ListOptions selects, orders and pages objects.
type ListOptions struct {
	Filters  []Filter
	Page     int64
	PerPage  int64
	SortBy   string
	SortDesc bool
}

// Pagination limits.
const (
	DefaultPerPage = 100
	MaxPerPage     = 500
)
