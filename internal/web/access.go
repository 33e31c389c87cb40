package web

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The access programme's pages: the account's API keys (create, shown once; revoke), a
// coupon's redemption, the banners (no API access, a trial ending), and the public page
// where a visitor requests a test share. Live on api_key, trial and account events.

func (s *Server) accessRoutes() []route {
	return []route{
		{"GET /apikeys", s.apiKeysPage},
		{"GET /apikeys/rows", s.apiKeyRows},
		{"POST /apikeys", s.apiKeyCreate},
		{"POST /apikeys/{id}/revoke", s.apiKeyRevoke},
		{"POST /account/redeem", s.redeem},
		{"GET /banners", s.banners},
	}
}

// publicAccessRoutes are served without a login.
func (s *Server) publicAccessRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /trial", s.trialPage)
	mux.Handle("POST /trial", s.cop.Handler(http.HandlerFunc(s.trialRequest)))
}

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	keys, err := s.svc.KeyList(r.Context(), c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "apikeys", "API keys", keys)
	return nil
}

func (s *Server) apiKeyRows(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	keys, err := s.svc.KeyList(r.Context(), c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "apikeys", "apikey-rows", keys)
	return nil
}

func (s *Server) apiKeyCreate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	k, key, err := s.svc.KeyCreate(r.Context(), c, r.FormValue("name"))
	if err != nil {
		return err
	}
	s.renderFragment(w, "apikeys", "new-key", map[string]any{"Name": k.Name, "Key": key})
	return nil
}

func (s *Server) apiKeyRevoke(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	k, err := s.svc.KeyRevoke(r.Context(), c, id)
	if err != nil {
		return err
	}
	return s.ok(w, "key %s revoked: it no longer works", k.Name)
}

func (s *Server) redeem(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	tr, err := s.svc.Redeem(r.Context(), c, r.FormValue("code"))
	if err != nil {
		return err
	}
	return s.ok(w, "coupon redeemed: %d trial credits until %s", tr.Credits, tr.Expires.UTC().Format("2 Jan 2006 15:04 MST"))
}

// banners are the account-wide notices at the top of every page.
func (s *Server) banners(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	var out []string
	if !c.APIAccess && !s.svc.APIAccessOpen() {
		out = append(out, "Your account has no API access yet: this console works, but gandi.cli, libcloud, the berth CLI and the REST API "+
			"answer fault 510151. Ask support to enable it.")
	}
	trials, err := s.svc.Trials(r.Context(), c)
	if err != nil {
		return err
	}
	for _, tr := range trials {
		if tr.Ended.IsZero() && tr.Warned {
			out = append(out, fmt.Sprintf("Your free trial ends on %s (%s left): its %d unused credits go with it, and servers stop "+
				"when no credits are left. Buy credits on the Account page to keep them running.",
				tr.Expires.UTC().Format("2 Jan 2006 15:04 MST"), untilText(time.Until(tr.Expires)), tr.CreditsLeft))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	for _, b := range out {
		fmt.Fprintf(w, `<div class="flash warn banner" role="status">%s</div>`, template.HTMLEscapeString(b))
	}
	return nil
}

// trialForm is the public request page's state.
type trialForm struct {
	Handle, Email, Purpose string
	Error                  string
	Done                   bool
}

func (s *Server) trialPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, nil, "trial", "Request a trial", trialForm{})
}

// trialRequest records a visitor's request; the service checks it and limits requests per
// client address. The address is the connection's peer: berthd trusts no forwarding header.
func (s *Server) trialRequest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	f := trialForm{Handle: strings.TrimSpace(r.FormValue("handle")), Email: strings.TrimSpace(r.FormValue("email")), Purpose: r.FormValue("purpose")}
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	_, err = s.svc.RequestTrial(r.Context(), service.TrialRequestSpec{Handle: f.Handle, Email: f.Email, Purpose: f.Purpose, ClientAddr: addr})
	if err != nil {
		msg, code := errorText(err)
		if api.IsCode(err, api.Unavailable) {
			code = http.StatusTooManyRequests
		}
		f.Error = msg
		w.WriteHeader(code)
		s.render(w, r, nil, "trial", "Request a trial", f)
		return
	}
	s.render(w, r, nil, "trial", "Request a trial", trialForm{Done: true, Email: f.Email})
}

// untilText says how long is left, in hours or days.
func untilText(d time.Duration) string {
	switch h := int(d.Round(time.Hour) / time.Hour); {
	case h < 1:
		return "less than an hour"
	case h == 1:
		return "1 hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	default:
		return fmt.Sprintf("%d days", h/24)
	}
}
