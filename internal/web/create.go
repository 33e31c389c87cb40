package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// The create form: vm.create_from in one form (datacenter, image, hostname, cores, memory,
// disk size, SSH keys, IPv4+IPv6 or IPv6 only, password), with the hourly price updated as
// the form changes; on success the browser goes to the new VM's page.

func (s *Server) createRoutes() []route {
	return []route{
		{"GET /vms/new", s.createPage},
		{"GET /vms/price", s.price},
		{"POST /vms", s.create},
	}
}

type createData struct {
	Datacenters []api.Datacenter
	Images      []api.Image
	Keys        []api.SSHKey
	Price       priceData
	MaxCores    int64
}

type priceData struct {
	Milli    int64
	Currency string
}

func (s *Server) createPage(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	ctx := r.Context()
	imgs, err := s.svc.ImageList(ctx, api.ListOptions{PerPage: api.MaxPerPage, SortBy: "label"})
	if err != nil {
		return err
	}
	keys, err := s.svc.SSHKeyList(ctx, c, api.ListOptions{PerPage: api.MaxPerPage})
	if err != nil {
		return err
	}
	d := createData{Datacenters: s.svc.Datacenters(api.ListOptions{}), Images: imgs, Keys: keys,
		Price: s.priceOf(1, 256, service.DefaultDiskMB, true)}
	s.render(w, r, c, "create", "Create a server", d)
	return nil
}

func (s *Server) priceOf(cores, mem, disk int64, v4 bool) priceData {
	return priceData{Milli: s.svc.PriceMilli(cores, mem, disk, v4), Currency: s.svc.Currency()}
}

func (s *Server) price(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	q := r.URL.Query()
	n := func(k string, def int64) int64 {
		v, err := strconv.ParseInt(q.Get(k), 10, 64)
		if err != nil || v < 0 {
			return def
		}
		return v
	}
	disk := n("disk_gb", 3) * 1024
	s.renderFragment(w, "create", "price", s.priceOf(n("cores", 1), n("memory", 256), disk, q.Get("ip_version") != "6"))
	return nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	if err := r.ParseForm(); err != nil {
		return api.Errorf(api.Invalid, api.ObjVM, "bad form: %v", err)
	}
	var v service.VMSpec
	var err error
	if v.DatacenterID, err = formInt(r, "datacenter_id"); err != nil {
		return err
	}
	img, err := formInt(r, "image_disk_id")
	if err != nil {
		return err
	}
	v.Hostname = strings.TrimSpace(r.FormValue("hostname"))
	if v.Cores, err = formInt(r, "cores"); err != nil {
		return err
	}
	if v.Memory, err = formInt(r, "memory"); err != nil {
		return err
	}
	diskGB, err := formInt(r, "disk_gb")
	if err != nil {
		return err
	}
	v.IPVersion = 4
	if r.FormValue("ip_version") == "6" {
		v.IPVersion = 6
	}
	v.Password = r.FormValue("password")
	for _, k := range r.Form["keys"] {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return api.Errorf(api.Invalid, api.ObjSSHKey, "bad ssh key id %q", k)
		}
		v.Keys = append(v.Keys, id)
	}
	d := service.DiskSpec{DatacenterID: v.DatacenterID, Size: diskGB * 1024, Name: v.Hostname + "-sys"}
	list, err := s.svc.VMCreateFrom(r.Context(), c, v, d, img)
	if err != nil {
		return err
	}
	var vmID int64
	for _, op := range list {
		if op.VMID != 0 {
			vmID = op.VMID
		}
	}
	w.Header().Set("HX-Redirect", "/vms/"+strconv.FormatInt(vmID, 10))
	return s.ok(w, "server %s is being created", v.Hostname)
}
