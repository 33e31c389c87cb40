package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The VM list: one page of VMs (vmsPerPage), filtered by name, with their addresses and
// disk sizes read in two more queries for the whole page (never one per row). The rows
// region reloads itself on each vm, ip or disk event.

const vmsPerPage = 50

func (s *Server) vmListRoutes() []route {
	return []route{
		{"GET /vms", s.vmList},
		{"GET /vms/rows", s.vmRows},
		{"POST /vms/{id}/start", s.vmAction},
		{"POST /vms/{id}/stop", s.vmAction},
		{"POST /vms/{id}/reboot", s.vmAction},
	}
}

// vmRow is one line of the list.
type vmRow struct {
	VM         api.VM
	Datacenter string
	IPv4, IPv6 []string
	DiskMB     int64
}

type vmListData struct {
	Query      string
	Page       int64
	Pages      int64
	Total      int64
	Rows       []vmRow
	RowsURL    string
	PrevURL    string
	NextURL    string
	FilterName string
}

func (s *Server) vmList(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vmListData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, "vms", "Virtual machines", d)
	return nil
}

func (s *Server) vmRows(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	d, err := s.vmListData(r, c)
	if err != nil {
		return err
	}
	s.renderFragment(w, "vms", "vm-rows", d)
	return nil
}

func (s *Server) vmListData(r *http.Request, c *service.Caller) (*vmListData, error) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	pg, _ := strconv.ParseInt(r.URL.Query().Get("page"), 10, 64)
	pg = max(pg, 0)
	o := api.ListOptions{Page: pg, PerPage: vmsPerPage, SortBy: "hostname"}
	if q != "" {
		o.Filters = []api.Filter{{Field: "hostname", Op: api.OpLike, Values: []any{"%" + q + "%"}}}
	}
	total, err := s.svc.VMCount(ctx, c, api.ListOptions{Filters: o.Filters})
	if err != nil {
		return nil, err
	}
	vms, err := s.svc.VMList(ctx, c, o)
	if err != nil {
		return nil, err
	}
	d := &vmListData{Query: q, Page: pg, Total: total, Pages: (total + vmsPerPage - 1) / vmsPerPage}
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	v.Set("page", strconv.FormatInt(pg, 10))
	d.RowsURL = "/vms/rows?" + v.Encode()
	if pg > 0 {
		v.Set("page", strconv.FormatInt(pg-1, 10))
		d.PrevURL = "/vms?" + v.Encode()
	}
	if pg+1 < d.Pages {
		v.Set("page", strconv.FormatInt(pg+1, 10))
		d.NextURL = "/vms?" + v.Encode()
	}
	if len(vms) == 0 {
		return d, nil
	}
	ids := make([]any, len(vms))
	for i, vm := range vms {
		ids[i] = vm.ID
	}
	in := []api.Filter{{Field: "vm_id", Op: api.OpIn, Values: ids}}
	ips, err := s.svc.IPList(ctx, c, api.ListOptions{Filters: in, PerPage: api.MaxPerPage})
	if err != nil {
		return nil, err
	}
	disks, err := s.svc.DiskList(ctx, c, api.ListOptions{Filters: in, PerPage: api.MaxPerPage})
	if err != nil {
		return nil, err
	}
	dcs := map[int64]string{}
	for _, dc := range s.svc.Datacenters(api.ListOptions{}) {
		dcs[dc.ID] = dc.Code
	}
	byVM := map[int64]*vmRow{}
	d.Rows = make([]vmRow, len(vms))
	for i, vm := range vms {
		d.Rows[i] = vmRow{VM: vm, Datacenter: dcs[vm.DatacenterID]}
		byVM[vm.ID] = &d.Rows[i]
	}
	for _, ip := range ips {
		if row := byVM[ip.VMID]; row != nil && ip.IP != "" {
			if ip.Version == 4 {
				row.IPv4 = append(row.IPv4, ip.IP)
			} else {
				row.IPv6 = append(row.IPv6, ip.IP)
			}
		}
	}
	for _, dk := range disks {
		if row := byVM[dk.VMID]; row != nil {
			row.DiskMB += dk.Size
		}
	}
	return d, nil
}

// vmAction starts, stops or reboots a VM.
func (s *Server) vmAction(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var op *api.Operation
	switch verb := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]; verb {
	case "start":
		op, err = s.svc.VMStart(r.Context(), c, id)
	case "stop":
		op, err = s.svc.VMStop(r.Context(), c, id)
	default:
		op, err = s.svc.VMReboot(r.Context(), c, id)
	}
	return s.opQueued(w, op, err)
}
