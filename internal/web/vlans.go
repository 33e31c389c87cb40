package web

import (
	"net/http"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The VLANs page: list, create, delete. Live on vlan events.

func (s *Server) vlanRoutes() []route {
	return []route{
		{"GET /vlans", s.vlansPage},
		{"GET /vlans/rows", s.vlanRows},
		{"POST /vlans", s.vlanCreate},
		{"POST /vlans/{id}/delete", s.vlanDelete},
	}
}

type vlansData struct {
	VLANs       []api.VLAN
	Datacenters []api.Datacenter
	DCCodes     map[int64]string
}

func (s *Server) vlansData(r *http.Request, c *service.Caller) (*vlansData, error) {
	list, err := s.svc.VLANList(r.Context(), c, api.ListOptions{PerPage: api.MaxPerPage, SortBy: "name"})
	if err != nil {
		return nil, err
	}
	d := &vlansData{VLANs: list, Datacenters: s.svc.Datacenters(api.ListOptions{}), DCCodes: map[int64]string{}}
	for _, dc := range d.Datacenters {
		d.DCCodes[dc.ID] = dc.Code
	}
	return d, nil
}

func (s *Server) vlansPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vlansData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "vlans", "VLANs", d)
	return nil
}

func (s *Server) vlanRows(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vlansData(r, c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "vlans", "vlan-rows", d)
	return nil
}

func (s *Server) vlanCreate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	dc, err := formInt(r, "datacenter_id")
	if err != nil {
		return err
	}
	op, err := s.svc.VLANCreate(r.Context(), c, service.VLANSpec{DatacenterID: dc, Name: strings.TrimSpace(r.FormValue("name")),
		Subnet: strings.TrimSpace(r.FormValue("subnet")), Gateway: strings.TrimSpace(r.FormValue("gateway"))})
	return s.opQueued(w, op, err)
}

func (s *Server) vlanDelete(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	op, err := s.svc.VLANDelete(r.Context(), c, id)
	return s.opQueued(w, op, err)
}
