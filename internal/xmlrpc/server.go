package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Method is one XML-RPC method: it receives the decoded positional
// parameters and returns an encodable result, or an error. A Fault (or
// *Fault) error is sent as is; any other error goes through Options.MapError.
type Method func(ctx context.Context, params []any) (any, error)

// Options configures a Server. Zero fields take the defaults; a negative
// limit disables that limit.
type Options struct {
	// MaxBodyBytes limits the request body (default 4 MiB).
	MaxBodyBytes int64
	// MaxDepth limits the nesting of arrays and structs (default 64).
	MaxDepth int
	// MaxElements limits the number of XML elements in a request (default 100000).
	MaxElements int
	// MapError turns a method's non-Fault error into a Fault (default DefaultMapError).
	MapError func(err error) Fault
	// Logger receives panics, encoding failures and per-call debug lines
	// (default: discard).
	Logger *slog.Logger
	// Observe, when set, is told of every decoded call: its method name ("unknown" for
	// an unregistered one), its faultCode (0 for a success) and its duration (metrics).
	Observe func(method string, fault int, d time.Duration)
}

// DefaultMapError maps a *ParamError to CodeInvalidParams with its message
// and every other error to CodeInternal "internal error", so that internal
// details never reach the caller.
func DefaultMapError(err error) Fault {
	var pe *ParamError
	if errors.As(err, &pe) {
		return Fault{Code: CodeInvalidParams, String: "invalid method parameters: " + pe.Error()}
	}
	return Fault{Code: CodeInternal, String: "internal error"}
}

// Server is an http.Handler serving XML-RPC calls to registered methods,
// plus system.multicall, system.listMethods, system.methodHelp and
// system.methodSignature. It does not look at the request path.
type Server struct {
	limits   Limits
	mapError func(err error) Fault
	log      *slog.Logger
	observe  func(method string, fault int, d time.Duration)

	mu      sync.RWMutex
	methods map[string]Method
}

// NewServer returns a Server with the system.* methods registered.
func NewServer(opts Options) *Server {
	s := &Server{
		limits: Limits{
			MaxBytes:    opts.MaxBodyBytes,
			MaxDepth:    opts.MaxDepth,
			MaxElements: opts.MaxElements,
		}.withDefaults(),
		mapError: opts.MapError,
		observe:  opts.Observe,
		log:      opts.Logger,
		methods:  map[string]Method{},
	}
	if s.mapError == nil {
		s.mapError = DefaultMapError
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.Register("system.multicall", s.multicall)
	s.Register("system.listMethods", func(context.Context, []any) (any, error) {
		return s.Methods(), nil
	})
	s.Register("system.methodHelp", func(context.Context, []any) (any, error) {
		return "", nil
	})
	s.Register("system.methodSignature", func(context.Context, []any) (any, error) {
		return "signatures not supported", nil
	})
	return s
}

// Register adds a method. It panics on an empty name, a nil method or a name
// already registered: those are programming errors.
func (s *Server) Register(name string, m Method) {
	if name == "" || m == nil {
		panic("xmlrpc: Register needs a name and a method")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.methods[name]; dup {
		panic(fmt.Sprintf("xmlrpc: method %q registered twice", name))
	}
	s.methods[name] = m
}

// Methods returns the sorted names of every registered method, system.*
// included.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.methods))
	for n := range s.methods {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// lookup returns the method registered under name.
func (s *Server) lookup(name string) (Method, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.methods[name]
	return m, ok
}

// ServeHTTP answers a POST with HTTP 200 and a methodResponse, faults
// included; other HTTP methods get 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "xml-rpc wants POST", http.StatusMethodNotAllowed)
		return
	}
	if s.limits.MaxBytes > 0 && r.ContentLength > s.limits.MaxBytes {
		s.writeFault(w, Fault{Code: CodeParse, String: fmt.Sprintf("parse error: %v: %d bytes, limit %d",
			ErrTooLarge, r.ContentLength, s.limits.MaxBytes)})
		return
	}
	name, params, err := DecodeCall(r.Body, s.limits)
	if err != nil {
		s.log.DebugContext(r.Context(), "xml-rpc request rejected", "remote", r.RemoteAddr, "err", err)
		s.writeFault(w, Fault{Code: CodeParse, String: "parse error: " + err.Error()})
		return
	}
	start := time.Now()
	result, err := s.call(r.Context(), name, params, false)
	var body []byte
	if err == nil {
		e := encoders.Get().(*encoder)
		defer putEncoder(e) // after the write below: body is e's buffer
		if body, err = e.response(result); err != nil {
			s.log.ErrorContext(r.Context(), "xml-rpc result not encodable", "method", name, "err", err)
			err = fmt.Errorf("method %s: %w", name, err)
		}
	}
	if err != nil {
		f := s.toFault(r.Context(), name, err)
		s.log.DebugContext(r.Context(), "xml-rpc call", "method", name,
			"duration", time.Since(start), "fault", f.Code)
		s.writeFault(w, f)
		s.observed(name, f.Code, start)
		return
	}
	s.log.DebugContext(r.Context(), "xml-rpc call", "method", name, "duration", time.Since(start))
	s.write(w, body)
	s.observed(name, 0, start)
}

func (s *Server) observed(name string, fault int, start time.Time) {
	if s.observe == nil {
		return
	}
	if _, ok := s.lookup(name); !ok {
		name = "unknown"
	}
	s.observe(name, fault, time.Since(start))
}

// call runs one method, turning a panic into an error wrapping ErrPanic.
// inMulticall refuses a nested system.multicall.
func (s *Server) call(ctx context.Context, name string, params []any, inMulticall bool) (result any, err error) {
	if inMulticall && name == "system.multicall" {
		return nil, Fault{Code: CodeInvalidRequest, String: "system.multicall cannot be nested"}
	}
	m, ok := s.lookup(name)
	if !ok {
		return nil, Fault{Code: CodeUnknownMethod, String: "Method \"" + name + "\" is not supported"}
	}
	defer func() {
		if rec := recover(); rec != nil {
			s.log.ErrorContext(ctx, "xml-rpc method panicked", "method", name,
				"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("%w: %s: %v", ErrPanic, name, rec)
		}
	}()
	return m(ctx, params)
}

// toFault converts a method error into the Fault sent to the caller.
func (s *Server) toFault(ctx context.Context, name string, err error) (f Fault) {
	var fp *Fault
	if errors.As(err, &fp) && fp != nil {
		return *fp
	}
	var fv Fault
	if errors.As(err, &fv) {
		return fv
	}
	defer func() {
		if rec := recover(); rec != nil {
			s.log.ErrorContext(ctx, "xml-rpc MapError panicked", "method", name,
				"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			f = Fault{Code: CodeInternal, String: "internal error"}
		}
	}()
	if !errors.Is(err, ErrPanic) {
		s.log.DebugContext(ctx, "xml-rpc method failed", "method", name, "err", err)
	}
	return s.mapError(err)
}

// multicall implements system.multicall: each entry yields [result] or a
// {faultCode, faultString} struct.
func (s *Server) multicall(ctx context.Context, params []any) (any, error) {
	if len(params) != 1 {
		return nil, Fault{Code: CodeInvalidParams, String: "system.multicall wants one array of calls"}
	}
	calls, ok := params[0].([]any)
	if !ok {
		return nil, Fault{Code: CodeInvalidParams, String: "system.multicall wants one array of calls, got " + TypeName(params[0])}
	}
	out := make([]any, 0, len(calls))
	for i, c := range calls {
		out = append(out, s.multicallEntry(ctx, i, c))
	}
	return out, nil
}

// multicallEntry runs one system.multicall entry.
func (s *Server) multicallEntry(ctx context.Context, i int, c any) any {
	entry, ok := c.(map[string]any)
	name, nameOK := entry["methodName"].(string)
	if !ok || !nameOK || name == "" {
		return faultStruct(Fault{Code: CodeInvalidRequest,
			String: "system.multicall entry " + strconv.Itoa(i) + ": want a struct with methodName and params"})
	}
	var params []any
	switch p := entry["params"].(type) {
	case []any:
		params = p
	case nil:
		params = []any{}
	default:
		return faultStruct(Fault{Code: CodeInvalidRequest,
			String: "system.multicall entry " + strconv.Itoa(i) + ": params must be an array"})
	}
	result, err := s.call(ctx, name, params, true)
	if err == nil {
		if err = EncodeValue(io.Discard, result); err != nil {
			s.log.ErrorContext(ctx, "xml-rpc result not encodable", "method", name, "err", err)
			err = fmt.Errorf("method %s: %w", name, err)
		}
	}
	if err != nil {
		return faultStruct(s.toFault(ctx, name, err))
	}
	return []any{result}
}

// faultStruct is the multicall form of a fault.
func faultStruct(f Fault) map[string]any {
	return map[string]any{"faultCode": f.Code, "faultString": f.String}
}

// writeFault sends a fault response.
func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	s.write(w, faultBytes(f))
}

// write sends an encoded methodResponse with HTTP 200.
func (s *Server) write(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
