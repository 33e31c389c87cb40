package web

import (
	"net/http"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The SSH keys page: list, add, delete. Live on ssh_key events.

func (s *Server) keyRoutes() []route {
	return []route{
		{"GET /keys", s.keysPage},
		{"GET /keys/rows", s.keyRows},
		{"POST /keys", s.keyCreate},
		{"POST /keys/{id}/delete", s.keyDelete},
	}
}

func (s *Server) keyList(r *http.Request, c *service.Caller) ([]api.SSHKey, error) {
	return s.svc.SSHKeyList(r.Context(), c, api.ListOptions{PerPage: api.MaxPerPage, SortBy: "name"})
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	keys, err := s.keyList(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "keys", "SSH keys", keys)
	return nil
}

func (s *Server) keyRows(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	keys, err := s.keyList(r, c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "keys", "key-rows", keys)
	return nil
}

func (s *Server) keyCreate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	k, err := s.svc.SSHKeyCreate(r.Context(), c, strings.TrimSpace(r.FormValue("name")), r.FormValue("value"))
	if err != nil {
		return err
	}
	return s.ok(w, "key %s added (%s)", k.Name, k.Fingerprint)
}

func (s *Server) keyDelete(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.svc.SSHKeyDelete(r.Context(), c, id); err != nil {
		return err
	}
	return s.ok(w, "key %d deleted", id)
}
