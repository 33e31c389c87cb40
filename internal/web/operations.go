package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The operations page: the account's operations, newest first, by step; cancel while BILL
// or WAIT, relaunch on ERROR, each failure's message shown. Live on operation events.

func (s *Server) operationRoutes() []route {
	return []route{
		{"GET /operations", s.operationsPage},
		{"GET /operations/rows", s.operationRows},
		{"POST /operations/{id}/cancel", s.operationCancel},
		{"POST /operations/{id}/relaunch", s.operationRelaunch},
	}
}

type opsData struct {
	Step    string
	Ops     []api.Operation
	Page    int64
	RowsURL string
	NextURL string
	PrevURL string
}

func (s *Server) opsData(r *http.Request, c *service.Caller) (*opsData, error) {
	step := r.URL.Query().Get("step")
	pg, _ := strconv.ParseInt(r.URL.Query().Get("page"), 10, 64)
	pg = max(pg, 0)
	o := api.ListOptions{Page: pg, PerPage: 50, SortBy: "id", SortDesc: true}
	if step != "" {
		o.Filters = []api.Filter{{Field: "step", Op: api.OpEq, Values: []any{step}}}
	}
	list, err := s.svc.OperationList(r.Context(), c, o)
	if err != nil {
		return nil, err
	}
	d := &opsData{Step: step, Ops: list, Page: pg}
	v := url.Values{}
	if step != "" {
		v.Set("step", step)
	}
	v.Set("page", strconv.FormatInt(pg, 10))
	d.RowsURL = "/operations/rows?" + v.Encode()
	if len(list) == 50 {
		v.Set("page", strconv.FormatInt(pg+1, 10))
		d.NextURL = "/operations?" + v.Encode()
	}
	if pg > 0 {
		v.Set("page", strconv.FormatInt(pg-1, 10))
		d.PrevURL = "/operations?" + v.Encode()
	}
	return d, nil
}

func (s *Server) operationsPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.opsData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "operations", "Operations", d)
	return nil
}

func (s *Server) operationRows(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.opsData(r, c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "operations", "op-rows", d)
	return nil
}

func (s *Server) operationCancel(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.svc.OperationCancel(r.Context(), c, id); err != nil {
		return err
	}
	return s.ok(w, "operation %d cancelled", id)
}

func (s *Server) operationRelaunch(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.svc.OperationRelaunch(r.Context(), c, id); err != nil {
		return err
	}
	return s.ok(w, "operation %d relaunched", id)
}
