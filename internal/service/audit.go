package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// The audit log (issue 15). Each transport attaches an AuditCall to the context of every
// mutating call before it authenticates it (WithAudit) and ends it with the call's outcome
// (AuditEnd); authentication names the account and key, and the service's store writes the
// entry inside each write transaction of the call, so that a change never commits without
// its entry nor an entry without its change. A call that fails, whose transaction rolled
// back, gets its entry alone, with the fault, when it ends.

// DefaultAuditRetention is how long audit entries are kept when the configuration says
// nothing.
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditCall is the audit record of one mutating call under way.
type AuditCall struct {
	mu   sync.Mutex
	e    api.AuditEntry // who and what; ID once a transaction of the call committed it
	done bool

	// What the write transaction under way adds: it stands only if the transaction commits.
	inTx    bool
	staged  int64   // the entry's id
	pending []int64 // operations submitted
	account int64   // the account it acts on
	object  string  // the object it touches
}

// AuditSpec is what a transport knows of a call before it runs.
type AuditSpec struct {
	Transport string // api.TransportXMLRPC, ...
	Method    string // hosting.vm.create_from, POST /v1/vms, ...
	Params    any    // what the caller sent: masked here (MaskSecrets)
	Object    string // kind:id when the call names an object (AuditObject), else ""
	Actor     string // who acts when no API key does (admin commands: operator:USER)
	Addr      string // the client's address; "" for the one WithClient recorded
}

type auditKey struct{}

// WithAudit returns ctx carrying a new audit record of a mutating call.
func WithAudit(ctx context.Context, spec AuditSpec) context.Context {
	addr := spec.Addr
	if addr == "" {
		addr = ClientAddr(ctx)
	}
	c := &AuditCall{e: api.AuditEntry{Transport: spec.Transport, Method: spec.Method, Object: spec.Object, Actor: spec.Actor,
		ClientAddr: addr, Params: MaskSecrets(spec.Params)}}
	return context.WithValue(ctx, auditKey{}, c)
}

// SetAuditParams replaces the parameters of the call in ctx (masked), for a transport that
// reads them after it authenticated the call.
func SetAuditParams(ctx context.Context, params any) {
	if a := auditOf(ctx); a != nil {
		m := MaskSecrets(params)
		a.mu.Lock()
		a.e.Params = m
		a.mu.Unlock()
	}
}

func auditOf(ctx context.Context) *AuditCall {
	c, _ := ctx.Value(auditKey{}).(*AuditCall)
	return c
}

// AuditObject names an object in the audit log: kind:id ("vm:12"); the hosting account is
// "account".
func AuditObject(obj api.Object, id int64) string {
	if obj == api.ObjHosting {
		obj = api.ObjAccount
	}
	return fmt.Sprintf("%s:%d", obj, id)
}

// auditCaller records who the call's caller is: the account and the key that authenticated
// it (an operator's entry keeps its actor and takes the account it acts on).
func auditCaller(ctx context.Context, c *Caller) {
	a := auditOf(ctx)
	if a == nil || c == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.e.Actor == "" {
		a.e.Actor, a.e.KeyID = c.Handle, c.KeyID
	}
	if a.e.AccountID == 0 {
		a.e.AccountID = c.AccountID
	}
}

// auditTouch records the account a call acts on and the object it touches, unless the
// call already named them.
func auditTouch(ctx context.Context, account int64, object string) {
	a := auditOf(ctx)
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, obj := &a.e.AccountID, &a.e.Object
	if a.inTx { // an object made in a transaction that rolls back never existed
		acct, obj = &a.account, &a.object
	}
	if a.e.AccountID == 0 && *acct == 0 {
		*acct = account
	}
	if a.e.Object == "" && *obj == "" {
		*obj = object
	}
}

// auditOp records an operation the call submitted in tx's transaction, and the object it
// touches when the call named none (what a creation made). It never names the account: an
// operator's command (a host drain) may start operations of several accounts.
func auditOp(ctx context.Context, op *store.Operation) {
	a := auditOf(ctx)
	if a == nil {
		return
	}
	a.mu.Lock()
	a.pending = append(a.pending, op.ID)
	a.mu.Unlock()
	for _, o := range []struct {
		kind api.Object
		id   int64
	}{{api.ObjVM, op.VMID}, {api.ObjDisk, op.DiskID}, {api.ObjIface, op.IfaceID}, {api.ObjVLAN, op.VLANID}, {api.ObjIP, op.IPID}} {
		if o.id != 0 {
			auditTouch(ctx, 0, AuditObject(o.kind, o.id))
			return
		}
	}
	auditTouch(ctx, 0, AuditObject(api.ObjAccount, op.AccountID)) // credits bought
}

// record writes the call's entry in tx, after the transaction's own work: the first
// transaction of the call inserts it, a later one adds its operations.
func (a *AuditCall) record(tx store.Tx, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.e
	e.Operations = append(append([]int64{}, a.e.Operations...), a.pending...)
	e.Result, e.Message = api.AuditOK, ""
	if e.AccountID == 0 {
		e.AccountID = a.account
	}
	if e.Object == "" {
		e.Object = a.object
	}
	if e.ID != 0 {
		return tx.UpdateAudit(&e)
	}
	e.Time = now.UTC()
	if err := tx.InsertAudit(&e); err != nil {
		return err
	}
	a.staged = e.ID
	return nil
}

// begin starts a write transaction of the call (or its retry).
func (a *AuditCall) begin() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inTx, a.staged, a.pending, a.account, a.object = true, 0, nil, 0, ""
}

// settle ends a write transaction of the call: what it recorded stands if it committed.
func (a *AuditCall) settle(committed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if committed {
		if a.e.ID == 0 {
			a.e.ID = a.staged
		}
		if a.e.AccountID == 0 {
			a.e.AccountID = a.account
		}
		if a.e.Object == "" {
			a.e.Object = a.object
		}
		a.e.Operations = append(a.e.Operations, a.pending...)
	}
	a.inTx, a.staged, a.pending, a.account, a.object = false, 0, nil, 0, ""
}

// auditedStore is the service's store: each write transaction of a call that carries an
// AuditCall writes the call's entry before it commits.
type auditedStore struct {
	store.Store
	now func() time.Time
}

func (st auditedStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	a := auditOf(ctx)
	if a == nil {
		return st.Store.Write(ctx, fn)
	}
	err := st.Store.Write(ctx, func(tx store.Tx) error {
		a.begin()
		if err := fn(tx); err != nil {
			return err
		}
		return a.record(tx, st.now())
	})
	a.settle(err == nil)
	return err
}

// auditCodes names the error codes in the audit log, as the REST API does.
var auditCodes = map[api.Code]string{
	api.Internal: "internal", api.NotFound: "not_found", api.Invalid: "invalid", api.Conflict: "conflict",
	api.Attached: "attached", api.NoRight: "no_right", api.NoCredit: "no_credit", api.Unavailable: "unavailable",
	api.BadKey: "bad_key", api.NoAccess: "no_access",
}

// AuditEnd ends the audit record of the call in ctx with its outcome. A call that changed
// something already has its entry, written with the change; a failed call (its changes
// rolled back) gets its entry now, with the fault, in a transaction of its own, as does a
// call that succeeded without writing anything. A call nobody authenticated is not
// recorded (the authentication throttle counts and logs those).
func (s *Service) AuditEnd(ctx context.Context, callErr error) {
	a := auditOf(ctx)
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.done || (callErr == nil && a.e.ID != 0) || (a.e.Actor == "" && a.e.AccountID == 0) {
		a.done = true
		a.mu.Unlock()
		return
	}
	a.done = true
	e := a.e
	a.mu.Unlock()
	e.Result, e.Message = api.AuditOK, ""
	if callErr != nil {
		ae := api.AsError(callErr)
		switch {
		case ae != nil:
			e.Result, e.Message = auditCodes[ae.Code], ae.Message
		case e.Transport == api.TransportAdmin: // the operator's own command said why
			e.Result, e.Message = "error", truncate(callErr.Error(), 500)
		default: // internal details go to the log, not to the account's log
			e.Result, e.Message = auditCodes[api.Internal], "internal error"
		}
	}
	if e.Operations == nil {
		e.Operations = []int64{}
	}
	err := s.base.Write(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if e.ID != 0 { // a first transaction committed, a later step failed
			return tx.UpdateAudit(&e)
		}
		e.Time = s.now().UTC()
		return tx.InsertAudit(&e)
	})
	if err != nil {
		s.log.Error("audit entry lost", "method", e.Method, "account", e.AccountID, "result", e.Result, "err", err)
	}
}

// Audit lists the caller's own audit entries, newest first.
func (s *Service) Audit(ctx context.Context, c *Caller, q api.AuditQuery) ([]api.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = api.DefaultPerPage
	}
	q.Limit = min(q.Limit, api.MaxPerPage)
	return s.auditList(ctx, store.AuditFilter{AuditQuery: q, AccountID: c.AccountID})
}

// AuditAll lists the audit entries of one account (by handle) or of every account (""),
// for the operator, newest first (Limit 0: every one).
func (s *Service) AuditAll(ctx context.Context, handle string, q api.AuditQuery) ([]api.AuditEntry, error) {
	f := store.AuditFilter{AuditQuery: q, AccountID: store.AllAccounts}
	if handle != "" {
		err := s.read(ctx, func(tx store.Tx) error {
			a, err := tx.AccountByHandle(handle)
			if err == nil {
				f.AccountID = a.ID
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("no account %s", handle)
		}
	}
	return s.auditList(ctx, f)
}

func (s *Service) auditList(ctx context.Context, f store.AuditFilter) ([]api.AuditEntry, error) {
	if f.Object != "" && !auditObjectRE(f.Object) {
		return nil, api.Errorf(api.Invalid, api.ObjUnknown, "object %q: want kind:id (vm:12) or a kind (vm)", truncate(f.Object, 64))
	}
	var out []api.AuditEntry
	err := s.read(ctx, func(tx store.Tx) error {
		list, err := tx.AuditEntries(f)
		for _, e := range list {
			out = append(out, *e)
		}
		return err
	})
	return out, err
}

// auditObjectRE checks an object filter: a kind, or kind:id.
func auditObjectRE(s string) bool {
	kind, id, hasID := strings.Cut(s, ":")
	if kind == "" || strings.ContainsFunc(kind, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_') }) {
		return false
	}
	if !hasID {
		return true
	}
	var n int64
	_, err := fmt.Sscanf(id, "%d", &n)
	return err == nil && fmt.Sprint(n) == id
}

// PruneAudit deletes the audit entries older than the retention and returns how many.
func (s *Service) PruneAudit(ctx context.Context) (n int64, err error) {
	err = s.base.Write(ctx, func(tx store.Tx) error {
		n, err = tx.PruneAudit(s.now().Add(-s.cfg.AuditRetention))
		return err
	})
	if err != nil {
		return 0, s.internal(err)
	}
	return n, nil
}

// AuditPruneEvery is how often expired audit entries are deleted.
const AuditPruneEvery = time.Hour

// AuditPruneTick is the periodic work that prunes the audit log.
func (s *Service) AuditPruneTick(ctx context.Context) error {
	n, err := s.PruneAudit(ctx)
	if n > 0 {
		s.log.Info("audit log pruned", "entries", n, "retention", s.cfg.AuditRetention)
	}
	return err
}

// secretNames are the parameter names whose values the audit log never keeps: passwords,
// API keys, SSH key material, coupon codes, tokens, and the first-boot scripts and
// commands, which often carry credentials.
var secretNames = map[string]bool{
	"password": true, "passwd": true, "apikey": true, "api_key": true, "key": true, "ssh_key": true, "sshkey": true,
	"value": true, "token": true, "secret": true, "code": true, "coupon": true, "script": true, "run": true,
	"authorization": true, "cookie": true,
}

// Masked is what a secret parameter becomes in the audit log.
const Masked = "***"

// Bounds of what an entry keeps of a call's parameters: a call cannot bloat the log.
const (
	maxAuditString = 256
	maxAuditParams = 16 << 10
)

// MaskSecrets returns v as JSON with every secret member (by name, at any depth) replaced
// by Masked and long strings shortened. Empty secrets stay empty, so the log tells a
// password given from none.
func MaskSecrets(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"unrecorded":"parameters not encodable"}`)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return json.RawMessage(`{"unrecorded":"parameters not encodable"}`)
	}
	out, _ := json.Marshal(mask(generic))
	if len(out) > maxAuditParams {
		return json.RawMessage(fmt.Sprintf(`{"unrecorded":"parameters too large (%d bytes once masked)"}`, len(out)))
	}
	return out
}

func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if secretNames[strings.ToLower(strings.ReplaceAll(k, "-", "_"))] && !isEmpty(m) {
				x[k] = Masked
				continue
			}
			x[k] = mask(m)
		}
	case []any:
		for i, m := range x {
			x[i] = mask(m)
		}
	case string:
		if len(x) > maxAuditString {
			return fmt.Sprintf("%s… (%d bytes)", x[:maxAuditString], len(x))
		}
	}
	return v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}
