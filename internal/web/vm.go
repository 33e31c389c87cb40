package web

import (
	"net/http"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The VM page: summary, live memory and cores with their limits, disks, interfaces and
// IPs, the VM's operations, and delete with confirmation. Its panel reloads on every event
// of the account's VMs, disks, ifaces, IPs and operations.

func (s *Server) vmRoutes() []route {
	return []route{
		{"GET /vms/{id}", s.vmPage},
		{"GET /vms/{id}/panel", s.vmPanel},
		{"POST /vms/{id}/update", s.vmUpdate},
		{"POST /vms/{id}/delete", s.vmDelete},
	}
}

type vmData struct {
	service.VMDetail
	Datacenter string
	Ops        []api.Operation
	FreeDisks  []api.Disk
	FreeIfaces []api.Iface
	Snapshots  map[int64][]api.Disk
	Console    bool
}

func (s *Server) vmData(r *http.Request, c *service.Caller) (*vmData, error) {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	det, err := s.svc.VMInfo(ctx, c, id)
	if err != nil {
		return nil, err
	}
	d := &vmData{VMDetail: *det, Console: s.opt.Console != nil, Snapshots: map[int64][]api.Disk{}}
	if dc, err := s.svc.DatacenterInfo(det.VM.DatacenterID); err == nil {
		d.Datacenter = dc.Code + " · " + dc.Name
	}
	if d.Ops, err = s.svc.OperationList(ctx, c, api.ListOptions{PerPage: 15, SortBy: "id", SortDesc: true,
		Filters: []api.Filter{{Field: "vm_id", Op: api.OpEq, Values: []any{id}}}}); err != nil {
		return nil, err
	}
	dc := api.Filter{Field: "datacenter_id", Op: api.OpEq, Values: []any{det.VM.DatacenterID}}
	if d.FreeDisks, err = s.svc.DiskList(ctx, c, api.ListOptions{PerPage: 100, Filters: []api.Filter{dc,
		{Field: "vm_id", Op: api.OpEq, Values: []any{int64(0)}}, {Field: "type", Op: api.OpEq, Values: []any{"data"}}}}); err != nil {
		return nil, err
	}
	if d.FreeIfaces, err = s.svc.IfaceList(ctx, c, api.ListOptions{PerPage: 100, Filters: []api.Filter{dc,
		{Field: "vm_id", Op: api.OpEq, Values: []any{int64(0)}}}}); err != nil {
		return nil, err
	}
	if len(det.Disks) > 0 {
		src := make([]any, len(det.Disks))
		for i, x := range det.Disks {
			src[i] = x.ID
		}
		snaps, err := s.svc.DiskList(ctx, c, api.ListOptions{PerPage: 100, Filters: []api.Filter{
			{Field: "type", Op: api.OpEq, Values: []any{"snapshot"}}, {Field: "source", Op: api.OpIn, Values: src}}})
		if err != nil {
			return nil, err
		}
		for _, sn := range snaps {
			d.Snapshots[sn.Source] = append(d.Snapshots[sn.Source], sn)
		}
	}
	return d, nil
}

func (s *Server) vmPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vmData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "vm", d.VM.Hostname, d)
	return nil
}

func (s *Server) vmPanel(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vmData(r, c)
	if err != nil {
		if ae, ok := err.(*api.Error); ok && ae.Code == api.NotFound {
			w.Header().Set("HX-Redirect", "/vms") // deleted meanwhile
			return nil
		}
		return err
	}
	s.renderFragment(w, "vm", "vm-panel", d)
	return nil
}

// vmUpdate changes memory and cores (hot while running, within the limits shown).
func (s *Server) vmUpdate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cur, err := s.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		return err
	}
	var u service.VMUpdate
	mem, err := formInt(r, "memory")
	if err != nil {
		return err
	}
	cores, err := formInt(r, "cores")
	if err != nil {
		return err
	}
	if mem != cur.VM.Memory {
		u.Memory = &mem
	}
	if cores != cur.VM.Cores {
		u.Cores = &cores
	}
	if u.Memory == nil && u.Cores == nil {
		return s.ok(w, "nothing to change")
	}
	op, err := s.svc.VMUpdate(r.Context(), c, id, u)
	return s.opQueued(w, op, err)
}

// vmDelete deletes a VM once its hostname is typed again.
func (s *Server) vmDelete(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cur, err := s.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		return err
	}
	if strings.TrimSpace(r.FormValue("confirm")) != cur.VM.Hostname {
		return api.Errorf(api.Invalid, api.ObjVM, "type the hostname %q to confirm the deletion", cur.VM.Hostname)
	}
	op, err := s.svc.VMDelete(r.Context(), c, id)
	if err != nil {
		return err
	}
	return s.ok(w, "operation %d (%s) queued: the server is being deleted", op.ID, op.Type)
}
