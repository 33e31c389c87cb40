// Package rest is Berth's REST API under /v1/, described by the OpenAPI 3 document it
// serves at /v1/openapi.json. Like the XML-RPC transport (internal/gandi) it only turns
// HTTP into service calls and back: the rules, the checks and the error codes are the
// service's, and every error carries the Gandi faultCode the XML-RPC API would give.
package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/gandi"
	"github.com/berth-io/berth/internal/service"
)

// DieAfterCommitEnv names a test-only variable: when a mutating call's Idempotency-Key
// equals its value, berthd kills itself with SIGKILL after the call committed and before
// it answers (the idempotency tests use it to lose an answer for real).
const DieAfterCommitEnv = "BERTH_TEST_DIE_AFTER_COMMIT"

const maxBody = 1 << 20

// Observer is told of every request: its route, HTTP status and duration (metrics).
type Observer func(route string, status int, d time.Duration)

// API serves /v1/.
type API struct {
	svc     *service.Service
	mux     *http.ServeMux
	log     *slog.Logger
	observe Observer
	spec    []byte
	die     string
}

// New builds the REST API on svc. observe may be nil.
func New(svc *service.Service, log *slog.Logger, observe Observer) *API {
	if log == nil {
		log = slog.Default()
	}
	a := &API{svc: svc, mux: http.NewServeMux(), log: log, observe: observe, die: os.Getenv(DieAfterCommitEnv)}
	for _, r := range a.routes() {
		a.handle(r)
	}
	spec, err := json.Marshal(Document())
	if err != nil {
		panic(err) // the document is a literal: a failure is a bug caught by every test
	}
	a.spec = spec
	a.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(a.spec)
	})
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{errorJSON{Code: "not_found", Message: "no route " + r.Method + " " + r.URL.Path}})
	})
	return a
}

// ServeHTTP serves the /v1/ routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// kind says what a route answers.
type kind int

const (
	read      kind = iota // 200 with the handler's value
	opOne                 // 202 {"operation": …}
	opMany                // 202 {"operations": […]}
	keyMade               // 201 {"ssh_key": …}
	noContent             // 204
	opSync                // 200 {"operation": …}: the change is done (cancel)
)

// call is one request's parsed pieces.
type call struct {
	ctx    context.Context
	c      *service.Caller
	r      *http.Request
	body   []byte
	id     int64
	action string
}

// route is one method+path of /v1, its handler and its OpenAPI description.
type route struct {
	method, path string
	kind         kind
	obj          api.Object
	doc          opDoc
	// fn returns the response value for reads, []api.Operation for opOne/opMany/opSync,
	// *api.SSHKey for keyMade and nil for noContent.
	fn func(*call) (any, error)
}

func (a *API) handle(rt route) {
	a.mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if rt.kind == read {
			a.serve(sw, r, rt)
		} else { // recorded in the audit log: the service writes the entry with the change
			var obj string
			if id, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err == nil {
				obj = service.AuditObject(rt.obj, id)
			}
			ctx := service.WithAudit(r.Context(), service.AuditSpec{Transport: api.TransportREST, Method: rt.method + " " + rt.path, Object: obj})
			a.serve(sw, r.WithContext(ctx), rt)
			a.svc.AuditEnd(ctx, sw.err)
		}
		if a.observe != nil {
			a.observe(rt.method+" "+rt.path, sw.status, time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	err    error // the error the response reports, for the audit log
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		a.fail(w, api.Errorf(api.NoRight, api.ObjUnknown, "missing Authorization: Bearer <API key>"))
		return
	}
	c, err := a.svc.Auth(ctx, strings.TrimSpace(key))
	if err != nil {
		a.fail(w, err)
		return
	}
	cl := &call{ctx: ctx, c: c, r: r, action: r.PathValue("action")}
	if s := r.PathValue("id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			a.fail(w, api.Errorf(api.Invalid, rt.obj, "id %q is not a positive integer", truncate(s, 40)))
			return
		}
		cl.id = id
	}
	if rt.method != http.MethodGet {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			a.fail(w, api.Errorf(api.Invalid, rt.obj, "request body: %v", err))
			return
		}
		cl.body = b
		service.SetAuditParams(ctx, auditParams(r, b))
	}
	if rt.kind == read {
		v, err := rt.fn(cl)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	ik := r.Header.Get("Idempotency-Key")
	if ik == "" {
		v, err := rt.fn(cl)
		if err != nil {
			a.fail(w, err)
			return
		}
		a.answer(w, rt.kind, v, false)
		return
	}
	a.idempotent(w, cl, rt, ik)
}

// idempotent runs a mutation under an Idempotency-Key: a retry with the same key and
// request gets the first result, made once; another request with the key is refused.
func (a *API) idempotent(w http.ResponseWriter, cl *call, rt route, key string) {
	if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		a.fail(w, api.Errorf(api.Invalid, api.ObjUnknown, "Idempotency-Key must be 1 to 255 visible ASCII characters"))
		return
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", cl.r.Method, cl.r.URL.Path)
	h.Write(cl.body)
	claim := &service.Claim{Key: key, Request: hex.EncodeToString(h.Sum(nil))}
	if a.replay(w, cl, rt, claim) {
		return
	}
	cl.ctx = service.WithClaim(cl.ctx, claim)
	fresh, err := rt.fn(cl)
	if err != nil {
		if claim.Duplicate && a.replay(w, cl, rt, claim) {
			return
		}
		a.fail(w, err)
		return
	}
	if a.die != "" && a.die == key {
		a.log.Warn("test hook: SIGKILL after commit", "idempotency_key", key)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	if len(claim.Results()) == 0 { // the call changed nothing: nothing to replay
		a.answer(w, rt.kind, fresh, false)
		return
	}
	v, err := decodeResults(rt.kind, claim.Results())
	if err != nil {
		a.fail(w, err)
		return
	}
	a.answer(w, rt.kind, v, false)
}

// replay answers from the first call's record and reports whether there was one.
func (a *API) replay(w http.ResponseWriter, cl *call, rt route, claim *service.Claim) bool {
	rec, err := a.svc.IdempotentResult(cl.ctx, cl.c, claim.Key)
	if err != nil {
		a.fail(w, err)
		return true
	}
	if rec == nil {
		return false
	}
	if rec.Request != claim.Request {
		if sw, ok := w.(*statusWriter); ok {
			sw.err = api.Errorf(api.Invalid, api.ObjUnknown, "Idempotency-Key was already used with another request")
		}
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{errorJSON{Code: "idempotency_key_reused",
			Message: "Idempotency-Key was already used with another request (method, path or body)", FaultCode: gandi.Fault(api.Errorf(api.Invalid, api.ObjUnknown, "")).Code}})
		return true
	}
	var results []json.RawMessage
	if err := json.Unmarshal(rec.Result, &results); err != nil {
		a.fail(w, fmt.Errorf("idempotency record: %w", err))
		return true
	}
	v, err := decodeResults(rt.kind, results)
	if err != nil {
		a.fail(w, err)
		return true
	}
	a.answer(w, rt.kind, v, true)
	return true
}

// decodeResults turns what a claim recorded back into a handler's value.
func decodeResults(k kind, results []json.RawMessage) (any, error) {
	switch k {
	case keyMade:
		if len(results) != 1 {
			return nil, fmt.Errorf("idempotency record holds %d results", len(results))
		}
		var key api.SSHKey
		return &key, json.Unmarshal(results[0], &key)
	case noContent:
		return nil, nil
	}
	out := make([]api.Operation, len(results))
	for i, r := range results {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *API) answer(w http.ResponseWriter, k kind, v any, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	switch k {
	case keyMade:
		writeJSON(w, http.StatusCreated, map[string]any{"ssh_key": sshKeyOf(*v.(*api.SSHKey))})
	case noContent:
		w.WriteHeader(http.StatusNoContent)
	case opOne, opSync, opMany:
		list := v.([]api.Operation)
		if len(list) == 0 {
			a.fail(w, errors.New("a mutation made no operation"))
			return
		}
		status := http.StatusAccepted
		if k == opSync {
			status = http.StatusOK
		}
		w.Header().Set("Location", fmt.Sprintf("/v1/operations/%d", list[0].ID))
		if k == opMany {
			ops := make([]operationJSON, len(list))
			for i, o := range list {
				ops[i] = operationOf(o)
			}
			writeJSON(w, status, map[string]any{"operations": ops})
			return
		}
		writeJSON(w, status, map[string]any{"operation": operationOf(list[0])})
	}
}

// statusOf maps service error codes to HTTP statuses and REST error codes.
var statusOf = map[api.Code]struct {
	status int
	code   string
}{
	api.NotFound:    {http.StatusNotFound, "not_found"},
	api.Invalid:     {http.StatusUnprocessableEntity, "invalid_input"},
	api.BadKey:      {http.StatusUnauthorized, "unauthorized"},
	api.NoRight:     {http.StatusUnauthorized, "unauthorized"},
	api.NoAccess:    {http.StatusForbidden, "no_api_access"},
	api.Conflict:    {http.StatusConflict, "conflict"},
	api.Attached:    {http.StatusConflict, "attached"},
	api.NoCredit:    {http.StatusPaymentRequired, "no_credit"},
	api.Unavailable: {http.StatusServiceUnavailable, "resource_unavailable"},
	api.Internal:    {http.StatusInternalServerError, "service_error"},
}

// fail writes err as {"error": {code, message, fault_code}}.
func (a *API) fail(w http.ResponseWriter, err error) {
	if sw, ok := w.(*statusWriter); ok {
		sw.err = err
	}
	ae := api.AsError(err)
	if ae == nil {
		a.log.Error("rest: internal error", "err", err)
		ae = api.Errorf(api.Internal, api.ObjUnknown, "internal error")
	}
	s := statusOf[ae.Code]
	var se *syntaxError
	if errors.As(err, &se) {
		s.status, s.code = http.StatusBadRequest, "json_error"
	}
	writeJSON(w, s.status, errorBody{errorJSON{Code: s.code, Message: ae.Message, FaultCode: gandi.Fault(ae).Code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// auditParams are what a mutating request sent, for the audit log: its path's values and
// its JSON body's members (the service masks the secrets).
func auditParams(r *http.Request, body []byte) map[string]any {
	p := map[string]any{}
	var members map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &members); err != nil {
			p["body"] = fmt.Sprintf("not a JSON object (%d bytes)", len(body))
		}
	}
	for k, v := range members {
		p[k] = v
	}
	for _, k := range []string{"id", "action"} {
		if v := r.PathValue(k); v != "" {
			p[k] = v
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				p[k] = n
			}
		}
	}
	return p
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
