package ops

import (
	"github.com/berth-io/berth/internal/hypervisor"
	"github.com/berth-io/berth/internal/seed"
)

// Operation types (gandi-api.md §4.5).
const (
	VMCreate     = "vm_create"
	VMStart      = "vm_start"
	VMStop       = "vm_stop"
	VMReboot     = "vm_reboot"
	VMUpdate     = "vm_update"
	VMDelete     = "vm_delete"
	DiskCreate   = "disk_create"
	DiskUpdate   = "disk_update"
	DiskDelete   = "disk_delete"
	DiskRollback = "disk_rollback"
	DiskAttach   = "disk_attach"
	DiskDetach   = "disk_detach"
	IfaceCreate  = "iface_create"
	IfaceUpdate  = "iface_update"
	IfaceDelete  = "iface_delete"
	IfaceAttach  = "iface_attach"
	IfaceDetach  = "iface_detach"
	IPUpdate     = "ip_update"
	VLANCreate   = "vlan_create"
	VLANUpdate   = "vlan_update"
	VLANDelete   = "vlan_delete"
	// Gandi's migrations between datacenters (hosting.vm.migrate, hosting.disk.migrate).
	VMMigrate   = "hosting_migration_vm"
	DiskMigrate = "hosting_migration_disk"
	// A move of a VM to another host of its datacenter, live (running) or cold (halted):
	// an operator's operation (host drain), which Gandi never exposed.
	VMMove = "vm_move"
)

// The phases (inner_step) of vm_move. Live: LiveLayout (source: read the device model
// and the disks' backing), LivePrepare (target: images, taps, seed, a paused QEMU
// waiting for the migration, NBD exports), LiveSync (source: mirror the disks until in
// sync), LiveSwitchover (source: RAM, then the switchover), LiveFinish (target: the guest
// runs; the VM and its disks are recorded on the target as this phase begins),
// LiveCleanup (source: the old QEMU, taps, seed and disk files go). A failure or a cancel
// before the switchover goes LiveRollback (source: cancel, the guest runs on) then
// LiveRollbackTarget (target: everything prepared goes) and ends in ERROR. Cold: MoveCopy
// (target: the disks are copied over the internal channel; recorded on the target as
// LiveCleanup begins), then LiveCleanup.
const (
	LiveLayout         = "layout"
	LivePrepare        = "prepare"
	LiveSync           = "wait_sync"
	LiveSwitchover     = "switchover"
	LiveFinish         = "finish"
	LiveCleanup        = "cleanup"
	LiveRollback       = "rollback"
	LiveRollbackTarget = "rollback_target"
	MoveCopy           = "copy"
)

// ParamCancel, set in a running vm_move's params, asks it to stop before its switchover.
const ParamCancel = "cancel_requested"

// MoveSpec is the spec of vm_move.
type MoveSpec struct {
	Source      string `json:"source"`
	Target      string `json:"target"`
	Cold        bool   `json:"cold,omitempty"`
	SourceQueue string `json:"source_queue"`
	TargetQueue string `json:"target_queue"`
	// Filled by the phases: the source's device model, how each disk is copied, where
	// the target listens, and why a rollback runs.
	Layout   *hypervisor.Layout   `json:"layout,omitempty"`
	Disks    []MoveDisk           `json:"disks,omitempty"`
	Incoming *hypervisor.Incoming `json:"incoming,omitempty"`
	Failure  string               `json:"failure,omitempty"`
}

// MoveDisk is how one disk of a moving VM reaches the target: an overlay on the same
// image (Backing, mirrored "top") or an empty image of its size ("full").
type MoveDisk struct {
	ID      int64 `json:"id"`
	SizeMB  int64 `json:"size"`
	Backing int64 `json:"backing,omitempty"`
}

// The phases (inner_step) of a VM's migration between datacenters. The first call of
// vm.migrate makes an operation that prepares the target (MigrateSync) and ends DONE; its
// completion leaves a second operation waiting in RUN at MigrateWaitFinalize, which the
// call with finalize resumes: stop on the source host, copy the disks to the target host
// when it is another, start there (MigrateStart) with the target datacenter's addresses.
const (
	MigrateSync         = "wait_sync"
	MigrateWaitFinalize = "wait_finalize"
	MigrateStop         = "stop"
	MigrateCopy         = "copy"
	MigrateStart        = "start"
)

// MigrateSpec is the spec of hosting_migration_vm and hosting_migration_disk.
type MigrateSpec struct {
	From  int64  `json:"from_dc"`
	To    int64  `json:"to_dc"`
	Host  string `json:"host"`  // the target host ("" for a disk that lives on no host)
	Queue string `json:"queue"` // the target host's queue
	// Running says whether the VM ran when the finalize call came: it is started again.
	Running bool `json:"running,omitempty"`
}

// FirstBoot is what a new VM's guest receives at its first boot (the seed).
type FirstBoot = seed.FirstBoot

// VMCreateSpec is the spec of vm_create.
type VMCreateSpec struct {
	FirstBoot FirstBoot `json:"first_boot"`
}

// VMUpdateSpec is the spec of vm_update; nil fields are unchanged.
type VMUpdateSpec struct {
	Memory    *int64  `json:"memory,omitempty"`
	Cores     *int64  `json:"cores,omitempty"`
	MaxMemory *int64  `json:"vm_max_memory,omitempty"`
	Console   *bool   `json:"console,omitempty"`
	Hostname  *string `json:"hostname,omitempty"`
	Password  *string `json:"password,omitempty"`
}

// DiskCreateSpec is the spec of disk_create.
type DiskCreateSpec struct {
	Source   int64 `json:"source,omitempty"` // 0: an empty disk
	Snapshot bool  `json:"snapshot,omitempty"`
}

// DiskUpdateSpec is the spec of disk_update; nil fields are unchanged.
type DiskUpdateSpec struct {
	Name            *string `json:"name,omitempty"`
	Size            *int64  `json:"size,omitempty"`
	Kernel          *string `json:"kernel,omitempty"`
	Cmdline         *string `json:"cmdline,omitempty"`
	SnapshotProfile *int64  `json:"snapshot_profile,omitempty"`
}

// DiskRollbackSpec is the spec of disk_rollback: the operation's disk is the source.
type DiskRollbackSpec struct {
	Snapshot int64 `json:"snapshot"`
}

// AttachSpec is the spec of disk_attach, disk_detach, iface_attach and iface_detach.
type AttachSpec struct {
	Position int64 `json:"position"` // -1: append
	ReadOnly bool  `json:"read_only,omitempty"`
}

// IfaceUpdateSpec is the spec of iface_update.
type IfaceUpdateSpec struct {
	Bandwidth *float64 `json:"bandwidth,omitempty"`
}

// IPUpdateSpec is the spec of ip_update.
type IPUpdateSpec struct {
	Reverse string `json:"reverse"`
}

// VLANUpdateSpec is the spec of vlan_update.
type VLANUpdateSpec struct {
	Name    *string `json:"name,omitempty"`
	Gateway *string `json:"gateway,omitempty"`
}

// AccountCredit buys credits with the prepaid balance.
const AccountCredit = "account_credit"

// CreditSpec is the spec of account_credit.
type CreditSpec struct {
	Credits int64 `json:"credits"`
	Cents   int64 `json:"cents"`
}

// Relaunchable reports whether an operation in ERROR can run again: only those whose
// failure undid nothing.
func Relaunchable(typ string) bool {
	switch typ {
	case VMCreate, DiskCreate, IfaceCreate, VLANCreate, AccountCredit, VMMove:
		return false
	}
	return true
}
