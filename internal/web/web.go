// Package web is Berth's web console, served by berthd at / on the API's address: server-
// rendered pages (html/template + htmx) over the service layer, kept live by the events
// stream (GET /v1/events, also served here), and the VMs' serial consoles over WebSockets.
// Logins take an API key and open a cookie session; unsafe requests are checked against
// cross-origin use. Each page lives in its own file (vms.go, vm.go, keys.go, ...) with its
// template in templates/; a new page adds a file and a line to routes.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the console.
type Options struct {
	Log *slog.Logger
	// Console dials the serial console of a VM run by this berthd; nil when this server
	// runs no VM (the console page then says so).
	Console func(ctx context.Context, vmID int64) (net.Conn, error)
	// ConsoleLog returns the path of a VM's console log (its recent output), or "".
	ConsoleLog func(vmID int64) string
}

// Server is the web console.
type Server struct {
	svc   *service.Service
	opt   Options
	log   *slog.Logger
	pages map[string]*template.Template
	cop   *http.CrossOriginProtection

	hubsMu sync.Mutex
	hubs   map[int64]*consoleHub
}

// New builds the console.
func New(svc *service.Service, opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	s := &Server{svc: svc, opt: opt, log: opt.Log, pages: map[string]*template.Template{}, cop: http.NewCrossOriginProtection(), hubs: map[int64]*consoleHub{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "parts" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return s, nil
}

// handler is a page or action of a logged-in caller.
type handler func(w http.ResponseWriter, r *http.Request, c *service.Caller) error

// Register adds the console's routes to mux: GET / and the console's own paths, beside the
// API's (POST / stays XML-RPC).
func (s *Server) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/vms", http.StatusSeeOther) })
	mux.HandleFunc("GET /login", s.loginPage)
	mux.Handle("POST /login", s.cop.Handler(http.HandlerFunc(s.login)))
	mux.Handle("POST /logout", s.cop.Handler(http.HandlerFunc(s.logout)))
	mux.HandleFunc("GET /v1/events", s.events)
	s.publicAccessRoutes(mux)
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.cop.Handler(s.auth(rt.pattern, rt.h)))
	}
}

type route struct {
	pattern string
	h       handler
}

// routes lists the logged-in pages and actions, page by page.
func (s *Server) routes() []route {
	var out []route
	for _, group := range [][]route{s.vmListRoutes(), s.createRoutes(), s.vmRoutes(), s.vmDiskRoutes(), s.vmNetRoutes(),
		s.consoleRoutes(), s.operationRoutes(), s.keyRoutes(), s.vlanRoutes(), s.accountRoutes(), s.accessRoutes(), s.auditRoutes()} {
		out = append(out, group...)
	}
	return out
}

// caller authenticates a request: the console's session cookie, or an API key as
// `Authorization: Bearer`.
func (s *Server) caller(r *http.Request) (*service.Caller, error) {
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.svc.Auth(r.Context(), strings.TrimSpace(key))
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "not logged in")
	}
	return s.svc.SessionAuth(r.Context(), ck.Value)
}

// auth serves a logged-in route; an action (any method but GET) is recorded in the audit
// log.
func (s *Server) auth(pattern string, h handler) http.Handler {
	method, _, _ := strings.Cut(pattern, " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if method != http.MethodGet {
			r = auditRequest(r, pattern)
			defer func() { s.svc.AuditEnd(r.Context(), err) }()
		}
		var c *service.Caller
		c, err = s.caller(r)
		if err != nil {
			if r.Header.Get("HX-Request") != "" {
				w.Header().Set("HX-Redirect", "/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err = h(w, r, c); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail shows an error: as the flash message of an htmx request, or as a page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	msg, code := errorText(err)
	if code == http.StatusInternalServerError {
		s.log.Error("web", "path", r.URL.Path, "err", err)
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
		w.WriteHeader(http.StatusOK) // htmx swaps 2xx only
		s.renderFragment(w, "layout", "flash", flash{Error: msg})
		return
	}
	w.WriteHeader(code)
	s.render(w, r, nil, "error", "Error", map[string]string{"Message": msg})
}

func errorText(err error) (string, int) {
	var ae *api.Error
	if errors.As(err, &ae) {
		code := http.StatusBadRequest
		switch ae.Code {
		case api.NotFound:
			code = http.StatusNotFound
		case api.NoRight, api.BadKey:
			code = http.StatusUnauthorized
		case api.Internal:
			code = http.StatusInternalServerError
		}
		return ae.Message, code
	}
	return "internal error", http.StatusInternalServerError
}

// flash is the message area's content after an action.
type flash struct {
	Error string
	OK    string
}

// ok answers an action with a message in the flash area.
func (s *Server) ok(w http.ResponseWriter, format string, args ...any) error {
	// Into #flash, whatever the page inherits: a live panel's hx-swap="outerHTML" reaches
	// its forms, and once #flash was replaced by a message without its id every later
	// action of the page failed to find its target and sent nothing.
	w.Header().Set("HX-Retarget", "#flash")
	w.Header().Set("HX-Reswap", "innerHTML")
	s.renderFragment(w, "layout", "flash", flash{OK: fmt.Sprintf(format, args...)})
	return nil
}

// opQueued answers an action that queued an operation.
func (s *Server) opQueued(w http.ResponseWriter, op *api.Operation, err error) error {
	if err != nil {
		return err
	}
	return s.ok(w, "operation %d (%s) queued", op.ID, op.Type)
}

// page is what the layout renders.
type page struct {
	Title   string
	Nav     string
	Caller  *service.Caller
	Credits int64
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, c *service.Caller, name, title string, data any) {
	p := page{Title: title, Nav: name, Caller: c, Data: data}
	if c != nil {
		if a, err := s.svc.AccountInfo(r.Context(), c); err == nil {
			p.Credits = a.Credits
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		s.log.Error("render", "page", name, "err", err)
	}
}

// renderFragment renders one named template of a page (a live region, a row).
func (s *Server) renderFragment(w http.ResponseWriter, pageName, name string, data any) {
	t := s.pages[pageName]
	if t == nil {
		t = s.pages["vms"]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render", "fragment", name, "err", err)
	}
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, api.Errorf(api.Invalid, api.ObjUnknown, "bad %s %q", name, r.PathValue(name))
	}
	return id, nil
}

func formInt(r *http.Request, name string) (int64, error) {
	v := strings.TrimSpace(r.FormValue(name))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, api.Errorf(api.Invalid, api.ObjUnknown, "%s: %q is not a number", name, v)
	}
	return n, nil
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// Close ends the console sessions (at shutdown).
func (s *Server) Close() { s.closeConsoles() }
