package web

import (
	"net/http"
	"strings"

	"github.com/berth-io/berth/internal/service"
)

// Network actions of the VM page: a new public interface (IPv4+IPv6 or IPv6 only) attached,
// attach a free interface, detach, and an IP's reverse name.

func (s *Server) vmNetRoutes() []route {
	return []route{
		{"POST /vms/{id}/ifaces", s.ifaceCreate},
		{"POST /vms/{id}/ifaces/attach", s.ifaceAttach},
		{"POST /vms/{id}/ifaces/{iface}/detach", s.ifaceDetach},
		{"POST /ips/{ip}/reverse", s.ipReverse},
	}
}

func (s *Server) ifaceCreate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, dc, err := s.vmDatacenter(r, c)
	if err != nil {
		return err
	}
	ver := int64(4)
	if r.FormValue("ip_version") == "6" {
		ver = 6
	}
	op, err := s.svc.IfaceCreate(r.Context(), c, service.IfaceSpec{DatacenterID: dc, IPVersion: ver})
	if err != nil {
		return err
	}
	att, err := s.svc.IfaceAttach(r.Context(), c, id, op.IfaceID)
	if err != nil {
		return err
	}
	return s.ok(w, "operations %d (iface_create) and %d (iface_attach) queued", op.ID, att.ID)
}

func (s *Server) ifaceAttach(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, f, err := vmAnd(r, func() (int64, error) { return formInt(r, "iface_id") })
	if err != nil {
		return err
	}
	op, err := s.svc.IfaceAttach(r.Context(), c, id, f)
	return s.opQueued(w, op, err)
}

func (s *Server) ifaceDetach(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, f, err := vmAnd(r, func() (int64, error) { return pathID(r, "iface") })
	if err != nil {
		return err
	}
	op, err := s.svc.IfaceDetach(r.Context(), c, id, f)
	return s.opQueued(w, op, err)
}

func (s *Server) ipReverse(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	ip, err := pathID(r, "ip")
	if err != nil {
		return err
	}
	op, err := s.svc.IPUpdate(r.Context(), c, ip, strings.TrimSpace(r.FormValue("reverse")))
	return s.opQueued(w, op, err)
}
