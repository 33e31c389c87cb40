package service

import (
	"context"
	"errors"
	"net/netip"
	"regexp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ipam"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// VLANSpec is what vlan.create asks for.
type VLANSpec struct {
	DatacenterID int64
	Name         string
	Subnet       string
	Gateway      string
}

var vlanNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

func checkGateway(subnet, gw string) error {
	if gw == "" {
		return nil
	}
	p, err := ipam.ParseSubnet(subnet)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(gw)
	if err != nil {
		return api.Errorf(api.Invalid, api.ObjVLAN, "gateway %q is not an address", truncate(gw, 50))
	}
	if _, err := ipam.NewPoolFrom(p, a); err != nil {
		return api.Errorf(api.Invalid, api.ObjVLAN, "gateway %s: %v", gw, err)
	}
	return nil
}

// VLANCreate creates a private VLAN.
func (s *Service) VLANCreate(ctx context.Context, c *Caller, spec VLANSpec) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if err := s.requireCredit(tx, c); err != nil {
			return err
		}
		if spec.DatacenterID == 0 {
			return api.Errorf(api.Invalid, api.ObjVLAN, "datacenter_id is required")
		}
		if err := s.dcOpen(tx, c, spec.DatacenterID); err != nil {
			return err
		}
		if !vlanNameRE.MatchString(spec.Name) {
			return api.Errorf(api.Invalid, api.ObjVLAN, "name %q is empty, too long or has characters other than letters, digits, '_', '.', '-'", truncate(spec.Name, 70))
		}
		now := s.now().UTC()
		v := &store.VLAN{AccountID: c.AccountID, VLAN: api.VLAN{DatacenterID: spec.DatacenterID, Name: spec.Name, Gateway: spec.Gateway, State: api.StateBeingCreated, EntityID: entityID(), Created: now, Updated: now}}
		if spec.Subnet != "" {
			p, err := ipam.ParseSubnet(spec.Subnet)
			if err != nil {
				return api.Errorf(api.Invalid, api.ObjVLAN, "subnet: %v", err)
			}
			v.Subnet = p.String()
		}
		if err := tx.InsertVLAN(v); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return api.Errorf(api.Conflict, api.ObjVLAN, "a vlan named %s already exists", spec.Name)
			}
			return err
		}
		if v.Subnet == "" {
			v.Subnet = ipam.DefaultVLANSubnet(int(v.ID)).String()
		}
		if err := checkGateway(v.Subnet, v.Gateway); err != nil {
			return err
		}
		v.UUID = v.ID
		if err := tx.UpdateVLAN(v); err != nil {
			return err
		}
		op, err := s.newOp(c, ops.VLANCreate, struct{}{})
		if err != nil {
			return err
		}
		op.VLANID, op.DatacenterID = v.ID, v.DatacenterID
		op.Params = map[string]any{"name": v.Name, "subnet": v.Subnet}
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

// VLANList lists the caller's VLANs.
func (s *Service) VLANList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.VLAN, error) {
	return listOf(s, ctx, c, o, store.Tx.VLANs, func(v *store.VLAN) api.VLAN { return v.VLAN })
}

// VLANCount counts the caller's VLANs.
func (s *Service) VLANCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountVLANs)
}

// VLANInfo returns one VLAN.
func (s *Service) VLANInfo(ctx context.Context, c *Caller, id int64) (*api.VLAN, error) {
	var out api.VLAN
	err := s.st.Read(ctx, func(tx store.Tx) error {
		v, err := tx.VLAN(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjVLAN, id)
		}
		out = v.VLAN
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

func (s *Service) vlanOp(ctx context.Context, c *Caller, id int64, typ string, spec any, check func(tx store.Tx, v *store.VLAN) error) (*api.Operation, error) {
	var out api.Operation
	err := s.st.Write(ctx, func(tx store.Tx) error {
		v, err := tx.VLAN(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjVLAN, id)
		}
		if err := check(tx, v); err != nil {
			return err
		}
		op, err := s.newOp(c, typ, spec)
		if err != nil {
			return err
		}
		op.VLANID, op.DatacenterID = v.ID, v.DatacenterID
		op.Params = map[string]any{"name": v.Name}
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

// VLANUpdate renames a VLAN or changes its gateway.
func (s *Service) VLANUpdate(ctx context.Context, c *Caller, id int64, u ops.VLANUpdateSpec) (*api.Operation, error) {
	return s.vlanOp(ctx, c, id, ops.VLANUpdate, u, func(tx store.Tx, v *store.VLAN) error {
		if u.Name != nil && !vlanNameRE.MatchString(*u.Name) {
			return api.Errorf(api.Invalid, api.ObjVLAN, "name %q is empty, too long or has characters other than letters, digits, '_', '.', '-'", truncate(*u.Name, 70))
		}
		if u.Name != nil && *u.Name != v.Name {
			n, err := tx.CountVLANs(store.Query{Scope: v.AccountID, Filters: []api.Filter{{Field: "name", Values: []any{*u.Name}}}})
			if err != nil {
				return err
			}
			if n > 0 {
				return api.Errorf(api.Conflict, api.ObjVLAN, "a vlan named %s already exists", *u.Name)
			}
		}
		if u.Gateway != nil {
			if err := checkGateway(v.Subnet, *u.Gateway); err != nil {
				return err
			}
			if *u.Gateway != "" {
				used, err := tx.UsedAddresses(vlanNetwork(v.ID))
				if err != nil {
					return err
				}
				for _, a := range used {
					if a == *u.Gateway {
						return api.Errorf(api.Conflict, api.ObjVLAN, "gateway %s is the address of an iface", a)
					}
				}
			}
		}
		return nil
	})
}

// VLANDelete deletes a VLAN that no iface uses.
func (s *Service) VLANDelete(ctx context.Context, c *Caller, id int64) (*api.Operation, error) {
	return s.vlanOp(ctx, c, id, ops.VLANDelete, struct{}{}, func(tx store.Tx, v *store.VLAN) error {
		n, err := tx.CountIfaces(store.Query{Scope: v.AccountID, Filters: []api.Filter{{Field: "vlan_id", Values: []any{v.ID}}}})
		if err != nil {
			return err
		}
		if n > 0 {
			return api.Errorf(api.Conflict, api.ObjVLAN, "vlan %d still has %d ifaces: delete them first", v.ID, n)
		}
		return nil
	})
}
