package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Datacenter is a datacenter with its address pools.
type Datacenter struct {
	api.Datacenter
	IPv4Pool    string // CIDR of public IPv4 addresses, e.g. 192.0.2.0/24
	IPv4Gateway string
	IPv6Prefix  string // e.g. 2001:db8::/32; each datacenter uses one /64 of it
}

// Kernel is a kernel a disk can boot with.
type Kernel struct {
	Name    string // as listed by disk.list_kernels
	Flavor  string // "linux" or "linux-hvm"
	Kernel  string // vmlinuz path; "" for grub and raw (the disk's own bootloader)
	Initrd  string
	Cmdline string // default cmdline of disks using it
}

// Firmware reports whether the kernel means "boot the disk's own bootloader".
func (k Kernel) Firmware() bool { return k.Kernel == "" }

// Catalog is what the host offers: datacenters and kernels.
type Catalog struct {
	Datacenters []Datacenter
	Kernels     []Kernel
}

// Datacenter returns the datacenter with that id.
func (c *Catalog) Datacenter(id int64) (*Datacenter, error) {
	for i := range c.Datacenters {
		if c.Datacenters[i].ID == id {
			return &c.Datacenters[i], nil
		}
	}
	return nil, api.NotFoundErr(api.ObjDatacenter, id)
}

// Kernel returns the kernel with that name.
func (c *Catalog) Kernel(name string) (Kernel, bool) {
	for _, k := range c.Kernels {
		if k.Name == name {
			return k, true
		}
	}
	return Kernel{}, false
}

// Validate checks the catalog.
func (c *Catalog) Validate() error {
	if len(c.Datacenters) == 0 {
		return fmt.Errorf("catalog: no datacenter")
	}
	seen := map[int64]bool{}
	for _, d := range c.Datacenters {
		if d.ID <= 0 || seen[d.ID] {
			return fmt.Errorf("catalog: datacenter id %d is zero or repeated", d.ID)
		}
		seen[d.ID] = true
		switch d.IaaSClosedFor {
		case "NONE", "NEW", "ALL":
		default:
			return fmt.Errorf("catalog: datacenter %s: iaas_closed_for %q is not NONE, NEW or ALL", d.Code, d.IaaSClosedFor)
		}
	}
	for _, k := range c.Kernels {
		if k.Flavor != "linux" && k.Flavor != "linux-hvm" {
			return fmt.Errorf("catalog: kernel %s: flavor %q is not linux or linux-hvm", k.Name, k.Flavor)
		}
	}
	return nil
}

// Datacenters lists the datacenters that match the options (filtered in memory: the
// catalog is small).
func (s *Service) Datacenters(o api.ListOptions) []api.Datacenter {
	var out []api.Datacenter
	for _, d := range s.cat.Datacenters {
		if matchDC(d.Datacenter, o.Filters) {
			out = append(out, d.Datacenter)
		}
	}
	key := func(d api.Datacenter) string { return fmt.Sprintf("%020d", d.ID) }
	switch o.SortBy {
	case "dc_code":
		key = func(d api.Datacenter) string { return d.Code }
	case "name":
		key = func(d api.Datacenter) string { return d.Name }
	}
	slices.SortStableFunc(out, func(a, b api.Datacenter) int {
		r := strings.Compare(key(a), key(b))
		if o.SortDesc {
			return -r
		}
		return r
	})
	per := o.PerPage
	if per <= 0 {
		per = api.DefaultPerPage
	}
	per = min(per, api.MaxPerPage)
	start := min(max(o.Page, 0)*per, int64(len(out)))
	return out[start:min(start+per, int64(len(out)))]
}

// DatacenterInfo returns one datacenter.
func (s *Service) DatacenterInfo(id int64) (api.Datacenter, error) {
	d, err := s.cat.Datacenter(id)
	if err != nil {
		return api.Datacenter{}, err
	}
	return d.Datacenter, nil
}

func matchDC(d api.Datacenter, filters []api.Filter) bool {
	return matchFields(filters, func(field string) (any, bool) {
		switch field {
		case "id":
			return d.ID, true
		case "dc_code":
			return d.Code, true
		case "name":
			return d.Name, true
		case "iso":
			return d.ISO, true
		case "country":
			return d.Country, true
		case "iaas_opened":
			return d.IaaSClosedFor == "NONE" || d.IaaSClosedFor == "NEW", true
		case "iaas_closed":
			return d.IaaSClosedFor == "NEW" || d.IaaSClosedFor == "ALL", true
		case "paas_opened":
			return d.PaaSClosedFor == "NONE" || d.PaaSClosedFor == "NEW", true
		case "paas_closed":
			return d.PaaSClosedFor == "NEW" || d.PaaSClosedFor == "ALL", true
		}
		return nil, false
	})
}

// matchFields applies filters in memory to an object whose fields field reads; a filter
// on a field it does not know is ignored.
func matchFields(filters []api.Filter, field func(name string) (any, bool)) bool {
	for _, f := range filters {
		if v, ok := field(f.Field); ok && !matchValue(v, f) {
			return false
		}
	}
	return true
}

// matchValue applies one filter to a value, in memory.
func matchValue(v any, f api.Filter) bool {
	eq := func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }
	switch f.Op {
	case api.OpIn:
		return slices.ContainsFunc(f.Values, eq)
	case api.OpLike:
		return likeMatch(fmt.Sprint(v), fmt.Sprint(f.Values[0]))
	}
	return len(f.Values) == 0 || eq(f.Values[0])
}

// likeMatch is SQL LIKE: % any run, _ any one character, case-insensitive like SQLite.
func likeMatch(s, pat string) bool {
	s, pat = strings.ToLower(s), strings.ToLower(pat)
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(s[i:], pat[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(s[1:], pat[1:])
	}
	return s != "" && s[0] == pat[0] && likeMatch(s[1:], pat[1:])
}

// ListKernels returns the kernels by flavor for a datacenter (the same on every datacenter
// of a host).
func (s *Service) ListKernels(dcID int64) (map[string][]string, error) {
	if _, err := s.cat.Datacenter(dcID); err != nil {
		return nil, err
	}
	out := map[string][]string{"linux": {}, "linux-hvm": {}}
	for _, k := range s.cat.Kernels {
		out[k.Flavor] = append(out[k.Flavor], k.Name)
	}
	return out, nil
}

// dcOpen checks that a datacenter exists and accepts new resources from the account:
// iaas_closed_for ALL refuses everyone, NEW refuses accounts with nothing there yet.
func (s *Service) dcOpen(tx store.Tx, c *Caller, dcID int64) error {
	d, err := s.cat.Datacenter(dcID)
	if err != nil {
		return err
	}
	switch d.IaaSClosedFor {
	case "ALL":
		return api.Errorf(api.Conflict, api.ObjDatacenter, "datacenter %s is closed", d.Code)
	case "NEW":
		q := store.Query{Scope: c.AccountID, Filters: []api.Filter{{Field: "datacenter_id", Values: []any{dcID}}}}
		n, err := tx.CountDisks(q)
		if err != nil {
			return err
		}
		if n == 0 {
			return api.Errorf(api.Conflict, api.ObjDatacenter, "datacenter %s is closed to new accounts", d.Code)
		}
	}
	return nil
}
