package gandi

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// Berth's own methods of the access programme (docs/api.md): API keys and free-trial
// coupons, and the account's audit log. They live under "berth." since the Gandi API has no such calls.

func (g *gandi) accessMethods(m map[string]xmlrpc.Method) {
	m["berth.key.list"] = g.call(api.ObjAPIKey, g.keyList)
	m["berth.key.create"] = g.call(api.ObjAPIKey, g.keyCreate)
	m["berth.key.revoke"] = g.call(api.ObjAPIKey, g.keyRevoke)
	m["berth.account.redeem"] = g.call(api.ObjCoupon, g.redeem)
	m["berth.trial.list"] = g.call(api.ObjTrial, g.trialList)
	m["berth.audit.list"] = g.call(api.ObjUnknown, g.auditList)
}

func (g *gandi) keyList(ctx context.Context, c *service.Caller, _ []any) (any, error) {
	keys, err := g.svc.KeyList(ctx, c)
	if err != nil {
		return nil, err
	}
	return shapeAll(keys, apiKeyWire), nil
}

func (g *gandi) keyCreate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	name, err := xmlrpc.String(p, 1, "name")
	if err != nil {
		return nil, err
	}
	k, key, err := g.svc.KeyCreate(ctx, c, name)
	if err != nil {
		return nil, err
	}
	w := apiKeyWire(*k)
	w["key"] = key
	return w, nil
}

func (g *gandi) keyRevoke(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "key_id")
	if err != nil {
		return nil, err
	}
	k, err := g.svc.KeyRevoke(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return apiKeyWire(*k), nil
}

func (g *gandi) redeem(ctx context.Context, c *service.Caller, p []any) (any, error) {
	code, err := xmlrpc.String(p, 1, "code")
	if err != nil {
		return nil, err
	}
	tr, err := g.svc.Redeem(ctx, c, code)
	if err != nil {
		return nil, err
	}
	return trialWire(*tr), nil
}

func (g *gandi) trialList(ctx context.Context, c *service.Caller, _ []any) (any, error) {
	list, err := g.svc.Trials(ctx, c)
	if err != nil {
		return nil, err
	}
	return shapeAll(list, trialWire), nil
}

func apiKeyWire(k api.APIKey) wire {
	return wire{"id": k.ID, "name": k.Name, "prefix": k.Prefix, "date_created": k.Created.UTC(),
		"date_revoked": timeOrNil(&k.Revoked), "current": k.Current}
}

func trialWire(t api.Trial) wire {
	return wire{"id": t.ID, "credits": t.Credits, "credits_left": t.CreditsLeft, "date_started": t.Started.UTC(),
		"date_expires": t.Expires.UTC(), "date_ended": timeOrNil(&t.Ended), "warned": t.Warned}
}
