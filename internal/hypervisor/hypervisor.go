// Package hypervisor defines the compute driver Berth's agent uses: one VM is one QEMU
// process in the qemu driver, an in-memory record in the fake driver used by logic tests and
// the sim backend.
package hypervisor

import (
	"context"
	"errors"
)

// ErrNotRunning is returned by live operations on a VM that is not running.
var ErrNotRunning = errors.New("vm is not running")

// State is the actual state of a VM as the driver sees it.
type State string

// States.
const (
	Running State = "running"
	Halted  State = "halted" // no process, or a process whose guest powered off
	Missing State = "missing"
)

// Disk is a disk as the hypervisor attaches it.
type Disk struct {
	ID       int64
	Path     string
	ReadOnly bool
}

// NIC is a network interface as the hypervisor attaches it.
type NIC struct {
	ID        int64
	MAC       string
	Tap       string // tap device name, "" for none (sim)
	Namespace string // network namespace of the tap ("" for the host's, or Spec.Namespace)
}

// Boot says how the VM boots: a kernel from the host's catalog with the boot disk's
// cmdline, or the boot disk's own bootloader through firmware when Kernel is "".
type Boot struct {
	Kernel  string
	Initrd  string
	Cmdline string
}

// Spec is everything needed to start a VM.
type Spec struct {
	ID        int64
	Name      string
	MemoryMB  int64
	MaxMemMB  int64
	Cores     int64
	MaxCores  int64
	Disks     []Disk // position order; Disks[0] is the boot disk
	NICs      []NIC
	Boot      Boot
	SeedPath  string // NoCloud ISO, "" for none
	Namespace string // network namespace the VM's taps live in
}

// Driver runs VMs. Every method is idempotent: starting a running VM, stopping a halted one
// or detaching a detached disk succeeds without doing anything. Every driver live-migrates
// (Migrator): the QEMU one for real, the fake one between fakes.
type Driver interface {
	Migrator
	Start(ctx context.Context, spec Spec) error
	// Stop asks the guest to power off, and forces it after the driver's timeout.
	Stop(ctx context.Context, id int64) error
	// Destroy removes what the driver keeps for a halted VM.
	Destroy(ctx context.Context, id int64) error
	State(ctx context.Context, id int64) (State, error)
	// SetMemory changes the memory of a running VM, within the maximum it was started with.
	SetMemory(ctx context.Context, id int64, mb int64) error
	// SetCores changes the CPU count of a running VM, within the maximum it was started with.
	SetCores(ctx context.Context, id int64, n int64) error
	AttachDisk(ctx context.Context, id int64, d Disk) error
	DetachDisk(ctx context.Context, id int64, diskID int64) error
	// ResizeDisk tells a running VM that an attached disk grew.
	ResizeDisk(ctx context.Context, id int64, diskID int64, sizeMB int64) error
	AttachNIC(ctx context.Context, id int64, n NIC) error
	DetachNIC(ctx context.Context, id int64, nicID int64) error
	// List returns the ids of the VMs the driver knows of (running or not).
	List(ctx context.Context) ([]int64, error)
}

// Consoler is implemented by drivers whose VMs have a serial console: a unix socket carrying
// the raw bytes of the VM's first serial port.
type Consoler interface {
	ConsolePath(id int64) string
}
