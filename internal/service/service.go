// Package service holds Berth's business rules: validation, tenancy, credits, state checks.
// Each mutating call writes its objects and enqueues its operation in one transaction, and
// the same package decides what an operation does to the objects when it ends (ops.Handler).
// It returns *api.Error; it knows no SQL, no QEMU and no wire format.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Enqueuer enqueues an operation's job inside the transaction that creates it.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx store.Tx, op *store.Operation) error
}

// Executor does the host work of operations (the agent).
type Executor interface {
	Execute(ctx context.Context, op *store.Operation) error
}

// Service is the business layer.
type Service struct {
	st   store.Store // base, writing the audit entry of the call in each write transaction
	base store.Store
	enq  Enqueuer
	exec Executor
	cat  *Catalog
	cfg  Config
	now  func() time.Time
	log  *slog.Logger

	events *EventHub

	thrOnce sync.Once
	thr     *throttle // failed authentications per client address
}

// Config holds the service's settings.
type Config struct {
	Rating           api.Rating
	Currency         string
	ReverseDomain    string
	ConsoleURL       string
	DefaultBandwidth float64 // kbit/s
	MaxCores         int64   // cores a VM can grow to without a reboot
	MaxDisksPerVM    int
	MaxIfacesPerVM   int
	CreditPriceCents int64          // price of one credit in the prepaid currency, in cents
	OpenAPIAccess    bool           // every account may use the APIs, not only those granted access
	TrialWarning     time.Duration  // how long before a trial ends its account is warned
	Throttle         ThrottleConfig // failed authentications per client address
	AuditRetention   time.Duration  // how long audit entries are kept (default 90 days)
}

// New builds the service.
func New(st store.Store, cat *Catalog, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxCores == 0 {
		cfg.MaxCores = 8
	}
	if cfg.MaxDisksPerVM == 0 {
		cfg.MaxDisksPerVM = 16
	}
	if cfg.MaxIfacesPerVM == 0 {
		cfg.MaxIfacesPerVM = 8
	}
	if cfg.DefaultBandwidth == 0 {
		cfg.DefaultBandwidth = 102400
	}
	if cfg.CreditPriceCents == 0 {
		cfg.CreditPriceCents = 1
	}
	if cfg.Currency == "" {
		cfg.Currency = "EUR"
	}
	if cfg.ConsoleURL == "" {
		cfg.ConsoleURL = "console.berth.invalid"
	}
	if cfg.ReverseDomain == "" {
		cfg.ReverseDomain = "berth.invalid"
	}
	if cfg.AuditRetention <= 0 {
		cfg.AuditRetention = DefaultAuditRetention
	}
	s := &Service{base: st, cat: cat, cfg: cfg, now: time.Now, log: log, events: newEventHub(st, log)}
	s.st = auditedStore{Store: st, now: func() time.Time { return s.now() }}
	return s
}

// SetEngine connects the service to the operations engine and the agent (they need the
// service too, so they are wired after New).
func (s *Service) SetEngine(enq Enqueuer, exec Executor) { s.enq, s.exec = enq, exec }

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Catalog returns the datacenter and kernel catalog.
func (s *Service) Catalog() *Catalog { return s.cat }

// Caller is an authenticated account.
type Caller struct {
	AccountID int64
	Handle    string
	KeyID     int64 // the API key used (0 for the operator's own calls)
	APIAccess bool  // whether the account may use the APIs
}

var keyRE = regexp.MustCompile(`^[a-z0-9]{24}$`)

// HashKey is how API keys are stored: never in clear.
func HashKey(key string) string {
	h := sha256.Sum256([]byte("berth-api-key:" + key))
	return hex.EncodeToString(h[:])
}

// NewKey returns a fresh 24-character [a-z0-9] API key.
func NewKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Auth checks an API key for the APIs (XML-RPC, REST): the key must exist, not be
// revoked, and its account must have API access (or the service opens access to every
// account). Every call reads the key, so a revocation holds at once on every API server.
func (s *Service) Auth(ctx context.Context, key string) (*Caller, error) {
	c, err := s.AuthKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if !c.APIAccess && !s.cfg.OpenAPIAccess {
		return nil, api.Errorf(api.NoAccess, api.ObjAccount, "API access is not enabled for account %s: ask support to enable it", c.Handle)
	}
	return c, nil
}

// checkKey checks an API key without the API-access rule (AuthKey adds the throttle).
func (s *Service) checkKey(ctx context.Context, key string) (*Caller, error) {
	if !keyRE.MatchString(key) {
		obj := api.ObjUnknown
		if key == "" {
			obj = api.ObjString
		}
		return nil, api.Errorf(api.BadKey, obj, "string '%s' does not match '^[a-z0-9]{24}$'", truncate(key, 64))
	}
	var c *Caller
	err := s.st.Read(ctx, func(tx store.Tx) error {
		k, err := tx.KeyAuth(HashKey(key))
		if err != nil {
			return err
		}
		c = &Caller{AccountID: k.AccountID, Handle: k.Handle, KeyID: k.KeyID, APIAccess: k.APIAccess}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "Invalid API key")
	}
	if err != nil {
		return nil, s.internal(err)
	}
	auditCaller(ctx, c)
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// internal logs err and returns an internal error that reveals nothing of it.
func (s *Service) internal(err error) error {
	if ae := api.AsError(err); ae != nil {
		return ae
	}
	s.log.Error("internal error", "err", err)
	return api.Errorf(api.Internal, api.ObjUnknown, "internal error")
}

// read runs fn and turns store errors into service errors.
func (s *Service) read(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.st.Read(ctx, fn); err != nil {
		return s.internal(err)
	}
	return nil
}

// write runs fn in a write transaction and turns store errors into service errors.
func (s *Service) write(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.st.Write(ctx, fn); err != nil {
		return s.internal(err)
	}
	return nil
}

// notFound turns store.ErrNotFound into the object's not-found error.
func notFound(err error, obj api.Object, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFoundErr(obj, id)
	}
	return err
}

// newOp builds an operation row for the caller, in step WAIT (BILL is done by the caller's
// transaction: the credit check).
func (s *Service) newOp(c *Caller, typ string, spec any) (*store.Operation, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("operation spec: %w", err)
	}
	now := s.now().UTC()
	return &store.Operation{
		Operation: api.Operation{Type: typ, Step: api.StepWait, Source: c.Handle, Created: now, Updated: now, ETA: eta(typ), Params: map[string]any{}},
		AccountID: c.AccountID, Spec: b, Queue: ControlQueue,
	}, nil
}

// submit inserts op and enqueues its job, in tx.
func (s *Service) submit(ctx context.Context, tx store.Tx, op *store.Operation) error {
	if op.Params == nil {
		op.Params = map[string]any{}
	}
	for k, v := range map[string]int64{"vm_id": op.VMID, "disk_id": op.DiskID, "iface_id": op.IfaceID, "ip_id": op.IPID, "vlan_id": op.VLANID, "datacenter_id": op.DatacenterID} {
		if v != 0 {
			op.Params[k] = v
		}
	}
	if err := tx.InsertOperation(op); err != nil {
		return err
	}
	auditOp(ctx, op)
	if err := s.remember(ctx, tx, op.AccountID, &op.Operation); err != nil {
		return err
	}
	if s.enq == nil {
		return errors.New("no operations engine")
	}
	return s.enq.Enqueue(ctx, tx, op)
}

// submitOne runs mk in a write transaction and submits the one operation it makes.
func (s *Service) submitOne(ctx context.Context, mk func(tx store.Tx) (*store.Operation, error)) (*api.Operation, error) {
	var out api.Operation
	err := s.write(ctx, func(tx store.Tx) error {
		op, err := mk(tx)
		if err != nil {
			return err
		}
		if err := s.submit(ctx, tx, op); err != nil {
			return err
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// eta is the typical duration of an operation type, in seconds.
func eta(typ string) int64 {
	switch typ {
	case "vm_create", "vm_reboot", "vm_start":
		return 30
	case "vm_stop", "vm_delete", "vm_update":
		return 20
	case "disk_create", "disk_update", "disk_rollback":
		return 10
	}
	return 3
}

// entityID returns a random UUID-shaped string, like Gandi's entity_id.
func entityID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// requireCredit is the BILL step: creating resources needs credits.
func (s *Service) requireCredit(tx store.Tx, c *Caller) error {
	a, err := tx.AccountByID(c.AccountID)
	if err != nil {
		return err
	}
	if a.CreditsMilli <= 0 {
		return api.Errorf(api.NoCredit, api.ObjHosting, "no hosting account found for %s", a.Handle)
	}
	return nil
}

// page converts list options into a store query scoped to the caller.
func page(c *Caller, o api.ListOptions) store.Query {
	per := o.PerPage
	if per <= 0 {
		per = api.DefaultPerPage
	}
	if per > api.MaxPerPage {
		per = api.MaxPerPage
	}
	pg := max(o.Page, 0)
	return store.Query{Scope: c.AccountID, Filters: o.Filters, Limit: per, Offset: pg * per, SortBy: o.SortBy, Desc: o.SortDesc}
}

// countQuery is page without pagination.
func countQuery(c *Caller, o api.ListOptions) store.Query {
	return store.Query{Scope: c.AccountID, Filters: o.Filters}
}

// listOf is the shape of every list: the caller's objects, paged, as API types.
func listOf[R, T any](s *Service, ctx context.Context, c *Caller, o api.ListOptions, list func(store.Tx, store.Query) ([]*R, error), conv func(*R) T) ([]T, error) {
	var out []T
	err := s.read(ctx, func(tx store.Tx) error {
		rows, err := list(tx, page(c, o))
		for _, r := range rows {
			out = append(out, conv(r))
		}
		return err
	})
	return out, err
}

// countOf is the shape of every count.
func countOf(s *Service, ctx context.Context, c *Caller, o api.ListOptions, count func(store.Tx, store.Query) (int64, error)) (n int64, err error) {
	err = s.read(ctx, func(tx store.Tx) error { n, err = count(tx, countQuery(c, o)); return err })
	return n, err
}
