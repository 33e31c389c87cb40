package gandi

import (
	"context"
	"fmt"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

func (g *gandi) accountInfo(ctx context.Context, c *service.Caller, _ []any) (any, error) {
	a, err := g.svc.AccountInfo(ctx, c)
	if err != nil {
		return nil, err
	}
	return accountWire(a), nil
}

func (g *gandi) contactBalance(ctx context.Context, c *service.Caller, _ []any) (any, error) {
	a, err := g.svc.AccountInfo(ctx, c)
	if err != nil {
		return nil, err
	}
	amount := fmt.Sprintf("%d.%02d", a.PrepaidCents/100, a.PrepaidCents%100)
	if a.PrepaidCents < 0 {
		amount = fmt.Sprintf("-%d.%02d", -a.PrepaidCents/100, -a.PrepaidCents%100)
	}
	return wire{"handle": a.Handle, "id": a.ID, "prepaid": wire{"amount": amount, "currency": g.svc.Currency()}}, nil
}

// accountCredit buys credits with the prepaid balance: {'credits': n}.
func (g *gandi) accountCredit(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "params")
	if err != nil {
		return nil, err
	}
	n, ok, err := memberInt(api.ObjHosting, m, "credits")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid(api.ObjHosting, "params: credits is required")
	}
	op, err := g.svc.BuyCredits(ctx, c, n)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func (g *gandi) datacenterList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	o, err := opts(api.ObjDatacenter, p, 1, true)
	if err != nil {
		return nil, err
	}
	dcs := g.svc.Datacenters(o)
	return shapeAll(dcs, datacenterWire), nil
}

func (g *gandi) datacenterInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "datacenter_id")
	if err != nil {
		return nil, err
	}
	d, err := g.svc.DatacenterInfo(id)
	if err != nil {
		return nil, err
	}
	return datacenterWire(d), nil
}

func (g *gandi) imageList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	o, err := opts(api.ObjImage, p, 1, true)
	if err != nil {
		return nil, err
	}
	list, err := g.svc.ImageList(ctx, o)
	if err != nil {
		return nil, err
	}
	return shapeAll(list, imageWire), nil
}

func (g *gandi) imageInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "image_id")
	if err != nil {
		return nil, err
	}
	im, err := g.svc.ImageInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	return g.withDC(imageWire(*im), im.DatacenterID), nil
}

func (g *gandi) operationInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("operation_id", g.svc.OperationInfo, full)(ctx, c, p)
}

func (g *gandi) operationList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjOperation, g.svc.OperationList, opFull)(ctx, c, p)
}

func (g *gandi) operationCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjOperation, g.svc.OperationCount)(ctx, c, p)
}

func (g *gandi) operationCancel(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "operation_id")
	if err != nil {
		return nil, err
	}
	if err := g.svc.OperationCancel(ctx, c, id); err != nil {
		return nil, err
	}
	return true, nil
}

func (g *gandi) operationRelaunch(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "operation_id")
	if err != nil {
		return nil, err
	}
	if err := g.svc.OperationRelaunch(ctx, c, id); err != nil {
		return nil, err
	}
	return true, nil
}

func (g *gandi) sshList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjSSHKey, g.svc.SSHKeyList, func(k api.SSHKey) wire { return sshWire(k, false) })(ctx, c, p)
}

func (g *gandi) sshCount(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return count(api.ObjSSHKey, g.svc.SSHKeyCount)(ctx, c, p)
}

func (g *gandi) sshInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("key_id", g.svc.SSHKeyInfo, func(k *api.SSHKey) any { return sshWire(*k, true) })(ctx, c, p)
}

func (g *gandi) sshCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.Struct(p, 1, "params")
	if err != nil {
		return nil, err
	}
	value, err := memberString(api.ObjSSHKey, m, "value")
	if err != nil {
		return nil, err
	}
	if value == "" {
		return nil, invalid(api.ObjSSHKey, "value is required")
	}
	name, err := memberString(api.ObjSSHKey, m, "name")
	if err != nil {
		return nil, err
	}
	k, err := g.svc.SSHKeyCreate(ctx, c, name, value)
	if err != nil {
		return nil, err
	}
	return sshWire(*k, true), nil
}

func (g *gandi) sshDelete(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "key_id")
	if err != nil {
		return nil, err
	}
	if err := g.svc.SSHKeyDelete(ctx, c, id); err != nil {
		return nil, err
	}
	return true, nil
}
