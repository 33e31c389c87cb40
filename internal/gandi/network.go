package gandi

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

func (g *gandi) vlanList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjVLAN, g.svc.VLANList, vlanWire)(ctx, c, p)
}

func (g *gandi) vlanCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjVLAN, g.svc.VLANCount)(ctx, c, p)
}

func (g *gandi) vlanInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("vlan_id", g.svc.VLANInfo, func(v *api.VLAN) any { return g.withDC(vlanWire(*v), v.DatacenterID) })(ctx, c, p)
}

func (g *gandi) vlanCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "params")
	if err != nil {
		return nil, err
	}
	var spec service.VLANSpec
	if spec.DatacenterID, _, err = memberInt(api.ObjVLAN, m, "datacenter_id"); err != nil {
		return nil, err
	}
	for k, dst := range map[string]*string{"name": &spec.Name, "subnet": &spec.Subnet, "gateway": &spec.Gateway} {
		if *dst, err = memberString(api.ObjVLAN, m, k); err != nil {
			return nil, err
		}
	}
	op, err := g.svc.VLANCreate(ctx, c, spec)
	if err != nil {
		return nil, err
	}
	return opFull(*op), nil
}

func (g *gandi) vlanUpdate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "vlan_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.Struct(p, 2, "params")
	if err != nil {
		return nil, err
	}
	var u ops.VLANUpdateSpec
	for k, dst := range map[string]**string{"name": &u.Name, "gateway": &u.Gateway} {
		if v, ok := m[k]; ok && v != nil {
			s, err := memberString(api.ObjVLAN, m, k)
			if err != nil {
				return nil, err
			}
			*dst = &s
		}
	}
	op, err := g.svc.VLANUpdate(ctx, c, id, u)
	if err != nil {
		return nil, err
	}
	return opFull(*op), nil
}

func (g *gandi) vlanDelete(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("vlan_id", func(ctx context.Context, c *service.Caller, id int64) (*api.Operation, error) {
		return g.svc.VLANDelete(ctx, c, id)
	}, full)(ctx, c, p)
}

func (g *gandi) ipList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjIP, g.svc.IPList, ipWire)(ctx, c, p)
}

func (g *gandi) ipCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjIP, g.svc.IPCount)(ctx, c, p)
}

func (g *gandi) ipInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("ip_id", g.svc.IPInfo, func(ip *api.IP) any { return g.withDCm(ipWire(*ip), ip.DatacenterID) })(ctx, c, p)
}

func (g *gandi) ipUpdate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "ip_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.Struct(p, 2, "ip_spec")
	if err != nil {
		return nil, err
	}
	rev, err := memberString(api.ObjIP, m, "reverse")
	if err != nil {
		return nil, err
	}
	op, err := g.svc.IPUpdate(ctx, c, id, rev)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) ifaceList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjIface, g.svc.IfaceList, ifaceWire)(ctx, c, p)
}

func (g *gandi) ifaceCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjIface, g.svc.IfaceCount)(ctx, c, p)
}

func (g *gandi) ifaceInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("iface_id", g.svc.IfaceInfo, func(d *service.IfaceDetail) any {
		return g.withDCm(ifaceInfoWire(*d), d.Iface.DatacenterID)
	})(ctx, c, p)
}

func (g *gandi) ifaceCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "iface_spec")
	if err != nil {
		return nil, err
	}
	var spec service.IfaceSpec
	if spec.DatacenterID, _, err = memberInt(api.ObjIface, m, "datacenter_id"); err != nil {
		return nil, err
	}
	if spec.IPVersion, _, err = memberInt(api.ObjIface, m, "ip_version"); err != nil {
		return nil, err
	}
	if spec.Bandwidth, _, err = memberFloat(api.ObjIface, m, "bandwidth"); err != nil {
		return nil, err
	}
	if spec.VLAN, _, err = memberInt(api.ObjIface, m, "vlan"); err != nil {
		return nil, err
	}
	if spec.IP, err = memberString(api.ObjIface, m, "ip"); err != nil {
		return nil, err
	}
	op, err := g.svc.IfaceCreate(ctx, c, spec)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) ifaceUpdate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "iface_id")
	if err != nil {
		return nil, err
	}
	m, err := xmlrpc.Struct(p, 2, "iface_spec")
	if err != nil {
		return nil, err
	}
	var u ops.IfaceUpdateSpec
	bw, ok, err := memberFloat(api.ObjIface, m, "bandwidth")
	if err != nil {
		return nil, err
	}
	if ok {
		u.Bandwidth = &bw
	}
	op, err := g.svc.IfaceUpdate(ctx, c, id, u)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) ifaceDelete(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("iface_id", g.svc.IfaceDelete, short)(ctx, c, p)
}
