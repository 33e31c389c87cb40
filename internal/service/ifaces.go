package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// IfaceSpec is what iface.create asks for.
type IfaceSpec struct {
	DatacenterID int64
	IPVersion    int64 // 4: IPv4 + IPv6, 6: IPv6 only (public ifaces)
	Bandwidth    float64
	VLAN         int64  // private iface on this VLAN
	IP           string // wanted private address
}

// Bandwidth limits, in kbit/s.
const (
	MinBandwidth = 64
	MaxBandwidth = 10 * 1024 * 1024
)

// Network names: the pools addresses are unique within.
func publicNetwork(dc, version int64) string { return fmt.Sprintf("dc:%d:v%d", dc, version) }
func vlanNetwork(vlan int64) string          { return fmt.Sprintf("vlan:%d", vlan) }

// PublicPool returns the public address pool of a datacenter for an IP version.
func (s *Service) PublicPool(dcID, version int64) (ipam.Pool, error) {
	dc, err := s.cat.Datacenter(dcID)
	if err != nil {
		return ipam.Pool{}, err
	}
	if version == 4 {
		if dc.IPv4Pool == "" {
			return ipam.Pool{}, api.Errorf(api.Unavailable, api.ObjIP, "datacenter %s has no IPv4 pool", dc.Code)
		}
		return ipam.NewPool(dc.IPv4Pool, dc.IPv4Gateway)
	}
	if dc.IPv6Prefix == "" {
		return ipam.Pool{}, api.Errorf(api.Unavailable, api.ObjIP, "datacenter %s has no IPv6 prefix", dc.Code)
	}
	p, err := ipam.ParseSubnet(dc.IPv6Prefix)
	if err != nil {
		return ipam.Pool{}, err
	}
	p64, err := ipam.Subnet64(p, uint64(dcID))
	if err != nil {
		return ipam.Pool{}, err
	}
	return ipam.NewPoolFrom(p64, ipam.DefaultGateway(p64))
}

func usedAddrs(tx store.Tx, network string) ([]netip.Addr, error) {
	list, err := tx.UsedAddresses(network)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// allocate picks an address in a pool and records it on the iface. No lock covers the
// pool: the UNIQUE constraint on (network, ip) decides. A free address is taken only after
// a try-lock on that one address (so concurrent creates, which see the same free addresses,
// skip each other's instead of waiting for each other's commit), and an address committed
// by another transaction meanwhile (a duplicate) is skipped and the next one tried.
func (s *Service) allocate(tx store.Tx, c *Caller, f *store.Iface, pool ipam.Pool, network string, version, num int64, want string) (*store.IP, error) {
	var skipped []netip.Addr
	for attempt := 0; ; attempt++ {
		ip, addr, err := s.tryAllocate(tx, c, f, pool, network, version, num, want, skipped)
		if err == nil || !errors.Is(err, errTaken) || attempt >= maxAllocAttempts {
			if errors.Is(err, errTaken) {
				return nil, api.Errorf(api.Conflict, api.ObjIP, "ip %s is already in use", addr)
			}
			return ip, err
		}
		skipped = append(skipped, addr)
	}
}

// maxAllocAttempts bounds the addresses one allocation tries after losing races.
const maxAllocAttempts = 64

// errTaken is an address another transaction holds or has just taken.
var errTaken = errors.New("address taken")

// tryAllocate makes one attempt of allocate, skipping the addresses of earlier attempts.
func (s *Service) tryAllocate(tx store.Tx, c *Caller, f *store.Iface, pool ipam.Pool, network string, version, num int64, want string, skipped []netip.Addr) (*store.IP, netip.Addr, error) {
	used, err := usedAddrs(tx, network)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	var addr netip.Addr
	if want != "" {
		addr, err = netip.ParseAddr(want)
		if err != nil {
			return nil, addr, api.Errorf(api.Invalid, api.ObjIP, "ip %q is not an address", truncate(want, 50))
		}
		if err := pool.Check(addr, used); err != nil {
			return nil, addr, api.Errorf(api.Invalid, api.ObjIP, "ip %s: %v", addr, err)
		}
	} else {
		addr, err = pool.Next(append(used, skipped...))
		if errors.Is(err, ipam.ErrExhausted) {
			return nil, addr, api.Errorf(api.Unavailable, api.ObjIP, "no free address left in %s", pool.Prefix)
		}
		if err != nil {
			return nil, addr, err
		}
		ok, err := tx.TryLock("ip:" + network + ":" + addr.String())
		if err != nil {
			return nil, addr, err
		}
		if !ok {
			return nil, addr, errTaken
		}
	}
	now := s.now().UTC()
	ip := &store.IP{AccountID: c.AccountID, Network: network, IP: api.IP{
		IfaceID: f.ID, DatacenterID: f.DatacenterID, IP: addr.String(), Version: version, Num: num,
		State: api.StateBeingCreated, Type: f.Type, EntityID: entityID(), Created: now, Updated: now,
	}}
	if f.Type == "public" {
		dc, _ := s.cat.Datacenter(f.DatacenterID)
		ip.Reverse = ipam.DefaultReverse(addr, dc.Code, s.cfg.ReverseDomain)
	}
	if err := tx.InsertIP(ip); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			if want != "" {
				return nil, addr, api.Errorf(api.Conflict, api.ObjIP, "ip %s is already in use", addr)
			}
			return nil, addr, errTaken
		}
		return nil, addr, err
	}
	return ip, addr, nil
}

// newIface inserts an iface being created with its addresses, and its iface_create
// operation (not submitted).
func (s *Service) newIface(tx store.Tx, c *Caller, spec IfaceSpec) (*store.Iface, *store.Operation, error) {
	if err := s.dcOpen(tx, c, spec.DatacenterID); err != nil {
		return nil, nil, err
	}
	if spec.Bandwidth == 0 {
		spec.Bandwidth = s.cfg.DefaultBandwidth
	}
	if spec.Bandwidth < MinBandwidth || spec.Bandwidth > MaxBandwidth {
		return nil, nil, api.Errorf(api.Invalid, api.ObjIface, "iface_spec: bandwidth %g kbit/s is not between %d and %d", spec.Bandwidth, MinBandwidth, MaxBandwidth)
	}
	now := s.now().UTC()
	f := &store.Iface{AccountID: c.AccountID, Iface: api.Iface{
		DatacenterID: spec.DatacenterID, Num: -1, Type: "public", State: api.IfaceFree,
		Bandwidth: spec.Bandwidth, EntityID: entityID(), Created: now, Updated: now,
	}}
	var vlan *store.VLAN
	if spec.VLAN != 0 {
		var err error
		vlan, err = tx.VLAN(c.AccountID, spec.VLAN)
		if err != nil {
			return nil, nil, notFound(err, api.ObjVLAN, spec.VLAN)
		}
		if vlan.DatacenterID != spec.DatacenterID {
			return nil, nil, api.Errorf(api.Invalid, api.ObjVLAN, "vlan %d is in datacenter %d, not %d", vlan.ID, vlan.DatacenterID, spec.DatacenterID)
		}
		f.Type, f.VLANID = "private", vlan.ID
	} else if spec.IP != "" {
		return nil, nil, api.Errorf(api.Invalid, api.ObjIface, "iface_spec: ip is only for a private iface (with vlan)")
	} else if spec.IPVersion != 4 && spec.IPVersion != 6 {
		return nil, nil, api.Errorf(api.Invalid, api.ObjIface, "iface_spec: ip_version %d is not 4 or 6", spec.IPVersion)
	}
	if err := tx.InsertIface(f); err != nil {
		return nil, nil, err
	}
	var first *store.IP
	if vlan != nil {
		pool, err := vlanPool(vlan)
		if err != nil {
			return nil, nil, err
		}
		if first, err = s.allocate(tx, c, f, pool, vlanNetwork(vlan.ID), 4, 0, spec.IP); err != nil {
			return nil, nil, err
		}
	} else {
		versions := []int64{4, 6}
		if spec.IPVersion == 6 {
			versions = []int64{6}
		}
		for i, v := range versions {
			pool, err := s.PublicPool(spec.DatacenterID, v)
			if err != nil {
				return nil, nil, err
			}
			ip, err := s.allocate(tx, c, f, pool, publicNetwork(spec.DatacenterID, v), v, int64(i), "")
			if err != nil {
				return nil, nil, err
			}
			if first == nil {
				first = ip
			}
		}
	}
	op, err := s.newOp(c, ops.IfaceCreate, struct{}{})
	if err != nil {
		return nil, nil, err
	}
	op.IfaceID, op.IPID, op.DatacenterID, op.VLANID = f.ID, first.ID, f.DatacenterID, f.VLANID
	return f, op, nil
}

func vlanPool(v *store.VLAN) (ipam.Pool, error) {
	return ipam.NewPool(v.Subnet, v.Gateway)
}

// IfaceCreate creates a free iface with its addresses.
func (s *Service) IfaceCreate(ctx context.Context, c *Caller, spec IfaceSpec) (*api.Operation, error) {
	return s.createOne(ctx, c, func(tx store.Tx) (*store.Operation, error) {
		if spec.DatacenterID == 0 {
			return nil, api.Errorf(api.Invalid, api.ObjIface, "iface_spec: datacenter_id is required")
		}
		if spec.VLAN == 0 && spec.IPVersion == 0 {
			spec.IPVersion = 4
		}
		_, op, err := s.newIface(tx, c, spec)
		return op, err
	})
}

// IfaceList lists the caller's ifaces.
func (s *Service) IfaceList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.Iface, error) {
	return listOf(s, ctx, c, o, store.Tx.Ifaces, func(f *store.Iface) api.Iface { return f.Iface })
}

// IfaceCount counts the caller's ifaces.
func (s *Service) IfaceCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountIfaces)
}

// IfaceInfo returns one iface with its IPs.
func (s *Service) IfaceInfo(ctx context.Context, c *Caller, id int64) (*IfaceDetail, error) {
	var out IfaceDetail
	err := s.st.Read(ctx, func(tx store.Tx) error {
		f, err := tx.Iface(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjIface, id)
		}
		out.Iface = f.Iface
		ips, err := tx.IPsOfIface(id)
		for _, ip := range ips {
			out.IPs = append(out.IPs, ip.IP)
		}
		return err
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// ifaceOp is the common path of calls that queue one operation on an existing iface.
func (s *Service) ifaceOp(ctx context.Context, c *Caller, id int64, typ string, spec any, check func(f *store.Iface) error) (*api.Operation, error) {
	return s.submitOne(ctx, func(tx store.Tx) (*store.Operation, error) {
		f, err := tx.Iface(c.AccountID, id)
		if err != nil {
			return nil, notFound(err, api.ObjIface, id)
		}
		if err := check(f); err != nil {
			return nil, err
		}
		op, err := s.newOp(c, typ, spec)
		if err != nil {
			return nil, err
		}
		op.IfaceID, op.VMID, op.DatacenterID, op.VLANID = f.ID, f.VMID, f.DatacenterID, f.VLANID
		if f.VMID != 0 { // the iface's tap is on its VM's host
			v, err := tx.VM(store.AllAccounts, f.VMID)
			if err != nil {
				return nil, err
			}
			if err := onHost(tx, op, v.Host, api.ObjVM, v.ID); err != nil {
				return nil, err
			}
		}
		return op, nil
	})
}

// IfaceUpdate changes an iface's bandwidth.
func (s *Service) IfaceUpdate(ctx context.Context, c *Caller, id int64, u ops.IfaceUpdateSpec) (*api.Operation, error) {
	return s.ifaceOp(ctx, c, id, ops.IfaceUpdate, u, func(*store.Iface) error {
		if u.Bandwidth != nil && (*u.Bandwidth < MinBandwidth || *u.Bandwidth > MaxBandwidth) {
			return api.Errorf(api.Invalid, api.ObjIface, "iface_spec: bandwidth %g kbit/s is not between %d and %d", *u.Bandwidth, MinBandwidth, MaxBandwidth)
		}
		return nil
	})
}

// IfaceDelete deletes a detached iface and frees its addresses.
func (s *Service) IfaceDelete(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.ifaceOp(ctx, c, id, ops.IfaceDelete, struct{}{}, func(f *store.Iface) error {
		if f.VMID != 0 {
			return api.Errorf(api.Conflict, api.ObjIface, "iface %d is attached to vm %d: detach it first", f.ID, f.VMID)
		}
		return nil
	})
}

// IfaceAttach attaches a free iface to a VM.
func (s *Service) IfaceAttach(ctx context.Context, c *Caller, vmID, ifaceID int64) (*api.Operation, error) {
	return s.attachOp(ctx, c, vmID, ifaceID, ops.IfaceAttach, ops.AttachSpec{Position: -1}, s.checkIfaceAttach)
}

// IfaceDetach detaches an iface from a VM.
func (s *Service) IfaceDetach(ctx context.Context, c *Caller, vmID, ifaceID int64) (*api.Operation, error) {
	return s.attachOp(ctx, c, vmID, ifaceID, ops.IfaceDetach, ops.AttachSpec{Position: -1}, checkIfaceDetach)
}

func (s *Service) checkIfaceAttach(tx store.Tx, v *store.VM, id int64, _ ops.AttachSpec) error {
	f, err := tx.Iface(v.AccountID, id)
	if err != nil {
		return notFound(err, api.ObjIface, id)
	}
	if f.VMID != 0 {
		return api.Errorf(api.Conflict, api.ObjIface, "iface %d is attached to vm %d: detach it first", f.ID, f.VMID)
	}
	if f.DatacenterID != v.DatacenterID {
		return api.Errorf(api.Invalid, api.ObjIface, "iface %d is in datacenter %d, vm %d in %d", f.ID, f.DatacenterID, v.ID, v.DatacenterID)
	}
	list, err := tx.IfacesOfVM(v.ID)
	if err != nil {
		return err
	}
	if len(list) >= s.cfg.MaxIfacesPerVM {
		return api.Errorf(api.Conflict, api.ObjVM, "vm %d already has %d ifaces", v.ID, len(list))
	}
	return nil
}

func checkIfaceDetach(tx store.Tx, v *store.VM, id int64, _ ops.AttachSpec) error {
	f, err := tx.Iface(v.AccountID, id)
	if err != nil {
		return notFound(err, api.ObjIface, id)
	}
	if f.VMID != v.ID {
		return api.Errorf(api.Conflict, api.ObjIface, "iface %d is not attached to vm %d", f.ID, v.ID)
	}
	return nil
}

// IPList lists the caller's addresses.
func (s *Service) IPList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.IP, error) {
	return listOf(s, ctx, c, o, store.Tx.IPs, func(ip *store.IP) api.IP { return ip.IP })
}

// IPCount counts the caller's addresses.
func (s *Service) IPCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountIPs)
}

// IPInfo returns one address.
func (s *Service) IPInfo(ctx context.Context, c *Caller, id int64) (*api.IP, error) {
	var out api.IP
	err := s.st.Read(ctx, func(tx store.Tx) error {
		ip, err := tx.IP(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjIP, id)
		}
		out = ip.IP
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// IPUpdate changes the reverse name of an address ("" restores the default).
func (s *Service) IPUpdate(ctx context.Context, c *Caller, id int64, reverse string) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		ip, err := tx.IP(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjIP, id)
		}
		if err := ipam.ValidateReverse(reverse); err != nil {
			return api.Errorf(api.Invalid, api.ObjIP, "ip_spec: reverse: %v", err)
		}
		if ip.Type != "public" {
			return api.Errorf(api.Invalid, api.ObjIP, "ip %d is private: it has no reverse name", ip.ID)
		}
		op, err := s.newOp(c, ops.IPUpdate, ops.IPUpdateSpec{Reverse: reverse})
		if err != nil {
			return err
		}
		op.IPID, op.IfaceID, op.DatacenterID = ip.ID, ip.IfaceID, ip.DatacenterID
		if err := s.submit(ctx, tx, op); err != nil {
			return err
		}
		out = op.Operation
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}
