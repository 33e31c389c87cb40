package hypervisor

import (
	"context"
	"errors"
)

// ErrMigrationCompleted is returned by CancelOutgoing when the VM's state already went to
// the target: resuming the source could run the guest twice.
var ErrMigrationCompleted = errors.New("migration already completed: the target holds the vm")

// Layout is the device model of a running VM that its migration target must reproduce
// exactly: QEMU refuses (or corrupts) a migration stream whose machine, PCI addresses or
// memory devices differ. It is read from the running source (Migrator.Layout).
type Layout struct {
	Machine      string // pinned machine type, e.g. "pc-i440fx-7.2" (never the "pc" alias)
	CPUModel     string // e.g. "qemu64"
	BaseMemoryMB int64  // boot memory (-m)
	MaxMemMB     int64
	MemorySlots  int
	BootCores    int64 // vCPUs of the command line
	MaxCores     int64
	// PCISlots maps the id of each device to its slot on bus 0 (disks "vd<ID>", NICs
	// "nic<ID>", "seed", "rng").
	PCISlots map[string]int
	DIMMs    []DIMM
	CPUs     []HotCPU // hotplugged vCPUs
}

// DIMM is a hotplugged memory device.
type DIMM struct {
	ID      string
	Backend string // id of its memory backend (the name of its RAM block in the stream)
	SizeMB  int64
	Slot    int
	Addr    int64
}

// HotCPU is a hotplugged vCPU.
type HotCPU struct {
	ID    string
	Type  string
	Props map[string]int64
}

// MirrorDisk says how a disk is copied to the target: Sync "top" when the target image
// already has the same backing chain (only the overlay is copied), "full" otherwise.
type MirrorDisk struct {
	ID   int64
	Sync string
}

// Transport is where a migration's target listens: the host's internal address, on
// ports chosen per migration. (TLS credentials for QEMU's tls-creds-x509 belong here.)
type Transport struct {
	Host string
}

// Incoming is a prepared migration target: the addresses the source sends to.
type Incoming struct {
	MigrateURI string // "tcp:host:port"
	NBDHost    string
	NBDPort    int
}

// MigrateOptions tunes the RAM migration.
type MigrateOptions struct {
	MaxBandwidth  int64 // bytes/s; 0 = the driver's default (far above QEMU's 128 MiB/s)
	DowntimeLimit int64 // ms; 0 = QEMU's default (300 ms)
	// PreSwitchover, when set, runs while the source is paused before the switchover,
	// disks in sync; an error cancels the migration and resumes the source.
	PreSwitchover func(ctx context.Context) error
}

// Migrator is the part of a Driver that live-migrates a VM with local disks to another
// driver (host). The order is: target PrepareIncoming (its disk images made by
// the caller), source MirrorDisks, source Migrate, target FinishIncoming, source
// Destroy. Every step is idempotent. Until Migrate returns, CancelOutgoing on the
// source plus Destroy on the target leave the VM running where it was.
type Migrator interface {
	// Layout reads the device model of running VM id.
	Layout(ctx context.Context, id int64) (Layout, error)
	// PrepareIncoming starts VM spec.ID paused, waiting for a migration, with layout's
	// device model, and exports its disks over NBD for the source's mirrors.
	PrepareIncoming(ctx context.Context, spec Spec, layout Layout, tr Transport) (Incoming, error)
	// MirrorDisks starts mirroring the disks of VM id into the target's NBD exports,
	// and returns once every mirror is in sync (writes then go to both sides).
	MirrorDisks(ctx context.Context, id int64, in Incoming, disks []MirrorDisk) error
	// Migrate copies the RAM of VM id to the target, completes the mirrors and switches
	// over. It returns once the target holds the VM; the source is then paused for good.
	Migrate(ctx context.Context, id int64, in Incoming, opts MigrateOptions) error
	// CancelOutgoing stops a migration of VM id, drops its mirrors and resumes the
	// guest on the source; ErrMigrationCompleted if the switchover happened.
	CancelOutgoing(ctx context.Context, id int64) error
	// FinishIncoming waits for the incoming migration of VM id to complete, closes its
	// NBD exports and runs the guest.
	FinishIncoming(ctx context.Context, id int64) error
}
