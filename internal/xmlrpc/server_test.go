package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type ctxKey struct{}

// testServer returns a Server with the methods the tests call.
func testServer(opts Options) *Server {
	s := NewServer(opts)
	s.Register("echo", func(_ context.Context, params []any) (any, error) {
		return params, nil
	})
	s.Register("fault", func(_ context.Context, params []any) (any, error) {
		return nil, Fault{Code: 530439, String: "disk attached"}
	})
	s.Register("fault.pointer.wrapped", func(_ context.Context, params []any) (any, error) {
		return nil, fmt.Errorf("service: %w", &Fault{Code: 530142, String: "vm 1 not found"})
	})
	s.Register("error", func(_ context.Context, params []any) (any, error) {
		return nil, errors.New("database is on fire at 10.0.0.1")
	})
	s.Register("param", func(_ context.Context, params []any) (any, error) {
		id, err := Int(params, 1, "vm_id")
		return id, err
	})
	s.Register("panic", func(_ context.Context, params []any) (any, error) {
		panic("kaboom")
	})
	s.Register("unencodable", func(_ context.Context, params []any) (any, error) {
		return map[string]any{"c": make(chan int)}, nil
	})
	s.Register("ctx", func(ctx context.Context, params []any) (any, error) {
		v, _ := ctx.Value(ctxKey{}).(string)
		return v, nil
	})
	return s
}

// call posts body to url and decodes the answer, checking the HTTP status
// and content type every XML-RPC answer must carry.
func call(t *testing.T, client *http.Client, url string, body io.Reader) (any, *Fault) {
	t.Helper()
	resp, err := client.Post(url, "text/xml", body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	v, err := DecodeResponse(resp.Body)
	var f *Fault
	if errors.As(err, &f) {
		return nil, f
	}
	if err != nil {
		t.Fatalf("DecodeResponse: %v", err)
	}
	return v, nil
}

func encodeCall(t *testing.T, method string, params ...any) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeCall(&b, method, params...); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestServerCalls(t *testing.T) {
	var logs syncBuffer
	s := testServer(Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	mux := http.NewServeMux()
	mux.Handle("/xmlrpc/", s)
	mux.Handle("/xmlrpc", s)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/xmlrpc/"
	ts := time.Date(2018, 5, 18, 17, 21, 59, 0, time.UTC)

	tests := []struct {
		name      string
		method    string
		params    []any
		want      any
		wantFault *Fault
	}{
		{"echo", "echo", []any{nil, true, 1, int64(1) << 40, 1.5, "é<&>", ts, []byte{1, 2}, []any{}, map[string]any{"a": 1}},
			[]any{nil, true, int64(1), int64(1) << 40, 1.5, "é<&>", ts, []byte{1, 2}, []any{}, map[string]any{"a": int64(1)}}, nil},
		{"echo no params", "echo", nil, []any{}, nil},
		{"unknown method", "hosting.nope", nil, nil, &Fault{Code: 1, String: `Method "hosting.nope" is not supported`}},
		{"unknown method escaped", "a<b>", nil, nil, &Fault{Code: 1, String: `Method "a<b>" is not supported`}},
		{"unknown method verbatim", "é\"x\ty", nil, nil, &Fault{Code: 1, String: "Method \"é\"x\ty\" is not supported"}},
		{"fault", "fault", nil, nil, &Fault{Code: 530439, String: "disk attached"}},
		{"wrapped fault pointer", "fault.pointer.wrapped", nil, nil, &Fault{Code: 530142, String: "vm 1 not found"}},
		{"plain error hidden", "error", nil, nil, &Fault{Code: CodeInternal, String: "internal error"}},
		{"param error", "param", []any{"key", "x"}, nil, &Fault{Code: CodeInvalidParams, String: "invalid method parameters: parameter 2 (vm_id): want int, got string"}},
		{"param ok", "param", []any{"key", 12}, int64(12), nil},
		{"panic", "panic", nil, nil, &Fault{Code: CodeInternal, String: "internal error"}},
		{"unencodable result", "unencodable", nil, nil, &Fault{Code: CodeInternal, String: "internal error"}},
		{"methodHelp", "system.methodHelp", []any{"echo"}, "", nil},
		{"methodSignature", "system.methodSignature", []any{"echo"}, "signatures not supported", nil},
		{"listMethods", "system.listMethods", nil, []any{"ctx", "echo", "error", "fault", "fault.pointer.wrapped", "panic", "param",
			"system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall", "unencodable"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fault := call(t, srv.Client(), url, encodeCall(t, tt.method, tt.params...))
			if diff := cmp.Diff(tt.wantFault, fault); diff != "" {
				t.Fatalf("fault mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}

	out := logs.String()
	for _, want := range []string{"xml-rpc method panicked", "kaboom", "goroutine", "server_test.go", "xml-rpc result not encodable"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestServerPaths(t *testing.T) {
	s := testServer(Options{})
	mux := http.NewServeMux()
	mux.Handle("/xmlrpc/", s)
	mux.Handle("/xmlrpc", s)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/xmlrpc/", "/xmlrpc", "/xmlrpc/2.0/"} {
		t.Run(path, func(t *testing.T) {
			got, fault := call(t, srv.Client(), srv.URL+path, encodeCall(t, "echo", path))
			if fault != nil {
				t.Fatal(fault)
			}
			if diff := cmp.Diff([]any{path}, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerNotPost(t *testing.T) {
	s := testServer(Options{})
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(m, "/xmlrpc/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status = %d, want 405", m, rec.Code)
		}
		if got := rec.Header().Get("Allow"); got != http.MethodPost {
			t.Errorf("%s: Allow = %q, want POST", m, got)
		}
	}
}

func TestServerPassesRequestContext(t *testing.T) {
	s := testServer(Options{})
	req := httptest.NewRequest(http.MethodPost, "/xmlrpc/", encodeCall(t, "ctx"))
	req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, "from request"))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	got, err := DecodeResponse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got != "from request" {
		t.Errorf("method saw context value %q, want %q", got, "from request")
	}
}

func TestServerMapError(t *testing.T) {
	var seen []error
	var mu sync.Mutex
	s := testServer(Options{MapError: func(err error) Fault {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
		if errors.Is(err, ErrPanic) {
			return Fault{Code: 100000, String: "server bug"}
		}
		return Fault{Code: 150000, String: "mapped: " + err.Error()}
	}})
	tests := []struct {
		method string
		want   Fault
	}{
		{"panic", Fault{Code: 100000, String: "server bug"}},
		{"error", Fault{Code: 150000, String: "mapped: database is on fire at 10.0.0.1"}},
		{"fault", Fault{Code: 530439, String: "disk attached"}}, // faults bypass MapError
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", encodeCall(t, tt.method)))
		_, err := DecodeResponse(rec.Body)
		var f *Fault
		if !errors.As(err, &f) {
			t.Fatalf("%s: err = %v, want a fault", tt.method, err)
		}
		if diff := cmp.Diff(tt.want, *f); diff != "" {
			t.Errorf("%s: fault mismatch (-want +got):\n%s", tt.method, diff)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("MapError saw %d errors, want 2", len(seen))
	}
	if !errors.Is(seen[0], ErrPanic) || !strings.Contains(seen[0].Error(), "kaboom") || !strings.Contains(seen[0].Error(), "panic") {
		t.Errorf("panic error = %v, want it to wrap ErrPanic and carry the panic value", seen[0])
	}
}

func TestServerMapErrorPanics(t *testing.T) {
	s := testServer(Options{MapError: func(error) Fault { panic("mapper bug") }})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", encodeCall(t, "panic")))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	_, err := DecodeResponse(rec.Body)
	var f *Fault
	if !errors.As(err, &f) || f.Code != CodeInternal {
		t.Errorf("err = %v, want internal fault", err)
	}
}

func TestServerMulticall(t *testing.T) {
	s := testServer(Options{})
	calls := []any{
		map[string]any{"methodName": "echo", "params": []any{1, "a"}},
		map[string]any{"methodName": "fault", "params": []any{}},
		map[string]any{"methodName": "nope"},
		map[string]any{"methodName": "system.multicall", "params": []any{[]any{}}},
		map[string]any{"methodName": "panic", "params": []any{}},
		map[string]any{"methodName": "unencodable", "params": []any{}},
		map[string]any{"params": []any{}},
		"not a struct",
		map[string]any{"methodName": "echo", "params": "not an array"},
		map[string]any{"methodName": "echo"},
		map[string]any{"methodName": "param", "params": []any{"k", 5}},
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", encodeCall(t, "system.multicall", calls)))
	got, err := DecodeResponse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	fault := func(code int64, msg string) map[string]any {
		return map[string]any{"faultCode": code, "faultString": msg}
	}
	want := []any{
		[]any{[]any{int64(1), "a"}},
		fault(530439, "disk attached"),
		fault(1, `Method "nope" is not supported`),
		fault(CodeInvalidRequest, "system.multicall cannot be nested"),
		fault(CodeInternal, "internal error"),
		fault(CodeInternal, "internal error"),
		fault(CodeInvalidRequest, "system.multicall entry 6: want a struct with methodName and params"),
		fault(CodeInvalidRequest, "system.multicall entry 7: want a struct with methodName and params"),
		fault(CodeInvalidRequest, "system.multicall entry 8: params must be an array"),
		[]any{[]any{}},
		[]any{int64(5)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("multicall mismatch (-want +got):\n%s", diff)
	}

	for _, params := range [][]any{nil, {"x"}, {[]any{}, []any{}}} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", encodeCall(t, "system.multicall", params...)))
		_, err := DecodeResponse(rec.Body)
		var f *Fault
		if !errors.As(err, &f) || f.Code != CodeInvalidParams {
			t.Errorf("multicall%v: err = %v, want invalid params fault", params, err)
		}
	}
}

func TestServerRegisterPanics(t *testing.T) {
	s := NewServer(Options{})
	s.Register("a.b", func(context.Context, []any) (any, error) { return nil, nil })
	for name, f := range map[string]func(){
		"duplicate": func() { s.Register("a.b", func(context.Context, []any) (any, error) { return nil, nil }) },
		"system clash": func() {
			s.Register("system.listMethods", func(context.Context, []any) (any, error) { return nil, nil })
		},
		"empty name": func() { s.Register("", func(context.Context, []any) (any, error) { return nil, nil }) },
		"nil method": func() { s.Register("c", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			f()
		})
	}
	want := []string{"a.b", "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"}
	if diff := cmp.Diff(want, s.Methods()); diff != "" {
		t.Errorf("Methods mismatch (-want +got):\n%s", diff)
	}
}

// wantParseFault posts body and expects a -32700 fault with HTTP 200 whose
// message contains msg, within a generous time bound.
func wantParseFault(t *testing.T, client *http.Client, url string, body io.Reader, size int64, msg string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	_, err = DecodeResponse(resp.Body)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("answer took %v", elapsed)
	}
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("err = %v, want a fault", err)
	}
	if f.Code != CodeParse || !strings.Contains(f.String, msg) {
		t.Errorf("fault = %d %q, want %d containing %q", f.Code, f.String, CodeParse, msg)
	}
}

// repeatReader yields prefix, then n copies of unit, then suffix, without
// holding the whole body in memory.
func repeatReader(prefix, unit string, n int, suffix string) (io.Reader, int64) {
	readers := []io.Reader{strings.NewReader(prefix)}
	chunk := strings.Repeat(unit, 1024)
	for n >= 1024 {
		readers = append(readers, strings.NewReader(chunk))
		n -= 1024
	}
	readers = append(readers, strings.NewReader(strings.Repeat(unit, n)), strings.NewReader(suffix))
	size := int64(len(prefix)+len(suffix)) + int64(len(unit))*int64(len(readers)-3)*1024 + int64(len(unit)*n)
	return io.MultiReader(readers...), size
}

func TestServerLimits(t *testing.T) {
	s := testServer(Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := srv.Client()
	head := "<?xml version=\"1.0\"?><methodCall><methodName>echo</methodName><params><param>"
	tail := "</param></params></methodCall>"

	t.Run("oversized body with length", func(t *testing.T) {
		body, size := repeatReader(head+"<value><string>", "x", 5<<20, "</string></value>"+tail)
		wantParseFault(t, client, srv.URL, body, size, "document too large")
	})
	t.Run("oversized body chunked", func(t *testing.T) {
		body, _ := repeatReader(head+"<value><string>", "x", 5<<20, "</string></value>"+tail)
		wantParseFault(t, client, srv.URL, io.NopCloser(body), -1, "document too large")
	})
	t.Run("depth bomb", func(t *testing.T) {
		n := 50000
		body, size := repeatReader(head, "<value><array><data>", n, strings.Repeat("</data></array></value>", n)+tail)
		wantParseFault(t, client, srv.URL, body, size, "values nested too deep: more than 64 levels")
	})
	t.Run("element bomb", func(t *testing.T) {
		body, size := repeatReader(head+"<value><array><data>", "<value/>", 200000, "</data></array></value>"+tail)
		wantParseFault(t, client, srv.URL, body, size, "too many xml elements: more than 100000")
	})
	t.Run("malformed", func(t *testing.T) {
		wantParseFault(t, client, srv.URL, strings.NewReader("<methodCall><oops>"), -1, "parse error")
	})
	t.Run("entity bomb", func(t *testing.T) {
		doc := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>`
		wantParseFault(t, client, srv.URL, strings.NewReader(doc), int64(len(doc)), "dtd and entity declarations are not allowed")
	})
	t.Run("wrong root", func(t *testing.T) {
		doc := "<methodResponse><params/></methodResponse>"
		wantParseFault(t, client, srv.URL, strings.NewReader(doc), int64(len(doc)), "want <methodCall>")
	})
	t.Run("missing methodName", func(t *testing.T) {
		doc := "<methodCall><params/></methodCall>"
		wantParseFault(t, client, srv.URL, strings.NewReader(doc), int64(len(doc)), "missing methodName")
	})
	t.Run("empty body", func(t *testing.T) {
		wantParseFault(t, client, srv.URL, strings.NewReader(""), 0, "parse error")
	})
	// The server is still healthy after all of that.
	got, fault := call(t, client, srv.URL, encodeCall(t, "echo", 1))
	if fault != nil || !cmp.Equal(got, []any{int64(1)}) {
		t.Errorf("echo after limits = %v, %v", got, fault)
	}
}

func TestServerCustomLimits(t *testing.T) {
	s := testServer(Options{MaxBodyBytes: 1000, MaxDepth: 2, MaxElements: 20})
	tests := []struct {
		name string
		body string
		msg  string
	}{
		{"body", callWith("<value>" + strings.Repeat("x", 2000) + "</value>"), "document too large"},
		{"depth", callWith("<value><array><data><value><array><data><value><array/></value></data></array></value></data></array></value>"), "more than 2 levels"},
		{"elements", callWith("<value/>", "<value><array><data>"+strings.Repeat("<value/>", 20)+"</data></array></value>"), "more than 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			_, err := DecodeResponse(rec.Body)
			var f *Fault
			if !errors.As(err, &f) || f.Code != CodeParse || !strings.Contains(f.String, tt.msg) {
				t.Errorf("err = %v, want parse fault containing %q", err, tt.msg)
			}
		})
	}
}

func TestServerConcurrent(t *testing.T) {
	s := testServer(Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method := "echo"
			if i%4 == 3 {
				method = "panic"
			}
			var b bytes.Buffer
			if err := EncodeCall(&b, method, i); err != nil {
				errs <- err
				return
			}
			resp, err := srv.Client().Post(srv.URL, "text/xml", &b)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			v, err := DecodeResponse(resp.Body)
			var f *Fault
			switch {
			case method == "panic" && !errors.As(err, &f):
				errs <- fmt.Errorf("call %d: err = %v, want fault", i, err)
			case method == "echo" && (err != nil || !cmp.Equal(v, []any{int64(i)})):
				errs <- fmt.Errorf("call %d: got %v, %v", i, v, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
