// Package store persists Berth's objects. Store is the interface the service layer uses;
// sqlstore implements it on SQLite (the embedded default) and PostgreSQL with one SQL text.
// Every read and write of tenant objects is scoped by account; nothing here knows the Gandi
// wire format.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/berth-io/berth/api"
)

// Errors the store returns.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
)

// AllAccounts is the Scope of admin and background reads that cross accounts.
const AllAccounts = -1

// PublicAccount owns image disks: any account may read them as a source.
const PublicAccount = 0

// Store opens transactions.
type Store interface {
	// Write runs fn in a read-write transaction and commits it when fn returns nil.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in a read-only transaction.
	Read(ctx context.Context, fn func(Tx) error) error
	// DB is the handle of the write pool, for the operations engine's queue.
	DB() *sql.DB
	// Dialect names the SQL engine: "sqlite" or "postgres".
	Dialect() string
	// Close releases the database.
	Close() error
}

// Query selects rows of one table.
type Query struct {
	Scope   int64 // account id, or AllAccounts
	Filters []api.Filter
	Limit   int64 // 0 means no limit
	Offset  int64
	SortBy  string
	Desc    bool
}

// Tx is one transaction.
type Tx interface {
	// SQLTx is the underlying transaction, for enqueueing jobs in it.
	SQLTx() *sql.Tx
	UsageReader
	HostStore
	IdempotencyStore
	AccessStore
	AuditStore
	// Lock serializes the transactions that take the same name, until they end (the
	// allocation of a pool's addresses, for instance).
	Lock(name string) error
	// TryLock takes such a lock only if it is free, and reports whether it did.
	TryLock(name string) (bool, error)

	InsertAccount(a *Account) error
	AccountByKeyHash(hash string) (*Account, error)
	AccountByHandle(handle string) (*Account, error)
	AccountByID(id int64) (*Account, error)
	Accounts() ([]*Account, error)
	UpdateAccount(a *Account) error

	InsertImage(im *api.Image) error
	Images(q Query) ([]*api.Image, error)
	CountImages(q Query) (int64, error)
	UpdateImage(im *api.Image) error

	InsertVM(v *VM) error
	VM(scope, id int64) (*VM, error)
	VMs(q Query) ([]*VM, error)
	CountVMs(q Query) (int64, error)
	UpdateVM(v *VM) error
	DeleteVM(id int64) error

	// VMDetail reads a VM with its disks (position order), its ifaces (num order) and
	// their IPs, in a few queries.
	VMDetail(scope, id int64) (*VMDetail, error)

	InsertDisk(d *Disk) error
	Disk(scope, id int64) (*Disk, error)
	Disks(q Query) ([]*Disk, error)
	CountDisks(q Query) (int64, error)
	DisksOfVM(vmID int64) ([]*Disk, error)
	UpdateDisk(d *Disk) error
	DeleteDisk(id int64) error
	// ProfiledDisks returns the data disks of every account that have a snapshot profile.
	ProfiledDisks() ([]*Disk, error)
	// AutoSnapshots returns the snapshots of a disk taken by its profile's schedules,
	// oldest first.
	AutoSnapshots(sourceID int64) ([]*Disk, error)

	InsertIface(f *Iface) error
	Iface(scope, id int64) (*Iface, error)
	Ifaces(q Query) ([]*Iface, error)
	CountIfaces(q Query) (int64, error)
	IfacesOfVM(vmID int64) ([]*Iface, error)
	UpdateIface(f *Iface) error
	DeleteIface(id int64) error

	InsertIP(ip *IP) error
	IP(scope, id int64) (*IP, error)
	IPs(q Query) ([]*IP, error)
	CountIPs(q Query) (int64, error)
	IPsOfIface(ifaceID int64) ([]*IP, error)
	UsedAddresses(network string) ([]string, error)
	UpdateIP(ip *IP) error
	DeleteIPsOfIface(ifaceID int64) error

	InsertVLAN(v *VLAN) error
	VLAN(scope, id int64) (*VLAN, error)
	VLANs(q Query) ([]*VLAN, error)
	CountVLANs(q Query) (int64, error)
	UpdateVLAN(v *VLAN) error
	DeleteVLAN(id int64) error

	InsertSSHKey(k *SSHKey) error
	SSHKey(scope, id int64) (*SSHKey, error)
	SSHKeys(q Query) ([]*SSHKey, error)
	CountSSHKeys(q Query) (int64, error)
	DeleteSSHKey(id int64) error

	InsertOperation(o *Operation) error
	Operation(scope, id int64) (*Operation, error)
	Operations(q Query) ([]*Operation, error)
	CountOperations(q Query) (int64, error)
	UpdateOperation(o *Operation) error
	// VMStates returns the state of every VM of a host, by id.
	VMStates(host string) (map[int64]string, error)
	// BusyVMs returns the VMs that have an operation not yet finished.
	BusyVMs() (map[int64]bool, error)
	// PendingBefore reports whether an operation older than o, not yet terminal, touches one
	// of o's objects: operations on one object run in order.
	PendingBefore(o *Operation) (bool, error)
}

// Account is a tenant row.
type Account struct {
	api.Account
	KeyHash      string
	CreditsMilli int64 // credits in thousandths, so hourly billing can charge fractions
	BilledAt     time.Time
}

// VM is a VM row.
type VM struct {
	api.VM
	AccountID  int64
	Host       string
	BootMemory int64 // memory at the last boot: the base of hot-added memory
}

// Disk is a disk row.
type Disk struct {
	api.Disk
	AccountID int64
	Host      string
	// Schedule is the schedule of the source's snapshot profile that took this snapshot;
	// "" for a snapshot taken by hand (never pruned) and for data disks.
	Schedule string
}

// Iface is an iface row.
type Iface struct {
	api.Iface
	AccountID int64
	VLANID    int64
}

// IP is an IP row.
type IP struct {
	api.IP
	AccountID int64
	Network   string // the pool it was allocated from; unique with the address
}

// VLAN is a VLAN row.
type VLAN struct {
	api.VLAN
	AccountID int64
}

// SSHKey is an SSH key row.
type SSHKey struct {
	api.SSHKey
	AccountID int64
	Created   time.Time
}

// Operation is an operation row.
type Operation struct {
	api.Operation
	AccountID int64
	Spec      []byte // JSON: what the worker needs to carry the operation out
	Queue     string
}

// Usage is what an account holds, for billing.
type Usage struct {
	RunningVMs int64
	Cores      int64 // of running VMs
	MemoryMB   int64 // of running VMs
	DiskMB     int64 // data disks
	SnapshotMB int64
	IPv4       int64 // public
	IPv6       int64
}

// UsageReader reads an account's usage (every Tx is one).
type UsageReader interface {
	Usage(accountID int64) (Usage, error)
}

// Host is a hypervisor host: where VMs run and disks live.
type Host struct {
	Name         string
	DatacenterID int64 // 0: every datacenter (the all-in-one host)
	MemoryMB     int64
	DiskMB       int64
	State        string // up or down
	Heartbeat    time.Time
	Started      time.Time
	VTEPAddr     string // underlay address of its VXLAN tunnels, "" without an overlay
	InternalURL  string // its internal listener (console, disk copies), "" without one
	// Draining: the host takes no new VM while its VMs move away (maintenance). A new
	// registration of its agent (SaveHost) keeps it.
	Draining bool
}

// Host states.
const (
	HostUp   = "up"
	HostDown = "down"
)

// HostStore reads and writes hosts (every Tx is one).
type HostStore interface {
	// SaveHost inserts or replaces a host; an existing host keeps its Draining.
	SaveHost(h *Host) error
	// SetDraining sets a host's Draining; it reports false when there is no such host.
	SetDraining(name string, on bool) (bool, error)
	Hosts() ([]*Host, error)
	// Heartbeat records that a host is alive at t; it reports false when the host is not
	// registered.
	Heartbeat(name string, t time.Time) (bool, error)
	// MarkDown marks down the up hosts whose last heartbeat is before t and returns them.
	MarkDown(before time.Time) ([]string, error)
	// HostLoad returns, per host, the memory of its VMs and the size of its disks, in MB.
	HostLoad() (map[string][2]int64, error)
	// ClusterSecret returns the secret called name, storing candidate first when there is
	// none yet (the first caller's candidate wins; every caller gets the same value).
	ClusterSecret(name, candidate string) (string, error)
}

// VMDetail is a VM with its parts.
type VMDetail struct {
	VM     *VM
	Disks  []*Disk
	Ifaces []*Iface
	IPs    map[int64][]*IP // by iface id, num order
}

// Event is a row of the events outbox.
type Event struct {
	api.Event
	AccountID int64
}

// EventLog reads the events outbox, which every Tx write of a tenant object appends to in
// its own transaction. sqlstore's DB implements it.
type EventLog interface {
	// Events returns up to limit events with after < seq <= upto (upto 0: no bound), of
	// one account or of AllAccounts, in seq order.
	Events(ctx context.Context, account, after, upto int64, limit int) ([]Event, error)
	// EventBounds returns the lowest and highest seq stored (0, 0 when empty).
	EventBounds(ctx context.Context) (oldest, newest int64, err error)
	// PruneEvents deletes the events older than before, and returns how many.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// Sessions keeps the web console's logins (the hash of each cookie token), so that any API
// server of a cluster accepts them. sqlstore's DB implements it.
type Sessions interface {
	// CreateSession stores a session opened with an API key (its id, for the audit log).
	CreateSession(ctx context.Context, tokenHash string, account, keyID int64, expires time.Time) error
	// SessionAccount returns the account and key id of an unexpired session, or ErrNotFound.
	SessionAccount(ctx context.Context, tokenHash string, now time.Time) (account, keyID int64, err error)
	// DeleteSession ends a session, and every expired one.
	DeleteSession(ctx context.Context, tokenHash string, now time.Time) error
}
