package hypervisor

import (
	"context"
	"errors"
)

// ErrNoGuestAgent is wrapped by the errors of guest agent calls when the guest agent
// does not answer (none installed, not started yet, or a guest too busy).
var ErrNoGuestAgent = errors.New("guest agent does not answer")

// GuestAgent is implemented by drivers whose VMs have a guest agent channel (the qemu
// driver: QGA over virtio-serial). Every call needs a running VM whose agent answers.
type GuestAgent interface {
	// GuestPing returns nil when the guest agent of VM id answers.
	GuestPing(ctx context.Context, id int64) error
	// SetGuestPassword sets the password of user in the guest.
	SetGuestPassword(ctx context.Context, id int64, user, password string) error
	// SetGuestHostname sets the guest's hostname, now and for its next boots.
	SetGuestHostname(ctx context.Context, id int64, name string) error
}

// Consistency says what a snapshot of a disk holds.
type Consistency string

// Consistencies of a snapshot.
const (
	// Offline: the disk was not in use by a running VM; the copy is what it holds.
	Offline Consistency = "offline"
	// FSConsistent: the guest's filesystems were frozen through its agent at the
	// instant of the copy: the copy is what a clean unmount would leave.
	FSConsistent Consistency = "filesystem"
	// CrashConsistent: the VM ran without a guest agent answering; the copy is what a
	// power cut at that instant would leave (the guest's journal replays it).
	CrashConsistent Consistency = "crash"
)

// DiskSnapshotter is implemented by drivers that copy a disk of a running VM at one
// point in time while the VM runs.
type DiskSnapshotter interface {
	// SnapshotDisk copies disk diskID, attached to running VM id, into target: an
	// empty qcow2 file of exactly the disk's virtual size. It freezes the guest's
	// filesystems through the guest agent for the instant the copy starts (and always
	// thaws them), or copies crash-consistently when the agent does not answer.
	SnapshotDisk(ctx context.Context, id, diskID int64, target string) (Consistency, error)
}
