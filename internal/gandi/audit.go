package gandi

import (
	"context"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// The audit log over XML-RPC: every method that may change something is recorded (the
// service writes the entry); berth.audit.list shows the caller its own entries.

// readOnlyVerbs are the last parts of the names of methods that change nothing. Every
// other method is recorded, so that a new mutating method cannot be missed.
var readOnlyVerbs = map[string]bool{
	"list": true, "count": true, "info": true, "list_kernels": true, "list_options": true,
	"get_options": true, "can_migrate": true, "balance": true,
}

// auditKinds maps the namespace part of a method's name to the kind of object whose id its
// first parameter is, when it is an int.
var auditKinds = map[string]api.Object{
	"vm": api.ObjVM, "disk": api.ObjDisk, "iface": api.ObjIface, "ip": api.ObjIP, "vlan": api.ObjVLAN,
	"ssh": api.ObjSSHKey, "operation": api.ObjOperation, "key": api.ObjAPIKey,
}

// secretArgs are the positions (after the API key) of secret positional parameters.
var secretArgs = map[string][]int{"berth.account.redeem": {0}}

// audited records the calls of a mutating method in the audit log.
func (g *gandi) audited(name string, m xmlrpc.Method) xmlrpc.Method {
	parts := strings.Split(name, ".")
	if readOnlyVerbs[parts[len(parts)-1]] {
		return m
	}
	var kind api.Object
	if len(parts) >= 2 {
		kind = auditKinds[parts[len(parts)-2]]
	}
	return func(ctx context.Context, p []any) (res any, err error) {
		args := []any{}
		if len(p) > 1 { // the API key is never recorded: its id is
			args = append(args, p[1:]...)
		}
		for _, i := range secretArgs[name] {
			if i < len(args) && args[i] != nil && args[i] != "" {
				args[i] = service.Masked
			}
		}
		var obj string
		if len(args) > 0 && kind != "" {
			if id, err := xmlrpc.Int(args, 0, "id"); err == nil {
				obj = service.AuditObject(kind, id)
			}
		}
		ctx = service.WithAudit(ctx, service.AuditSpec{Transport: api.TransportXMLRPC, Method: name, Params: args, Object: obj})
		defer func() {
			if r := recover(); r != nil {
				g.svc.AuditEnd(ctx, api.Errorf(api.Internal, api.ObjUnknown, "internal error"))
				panic(r) // the server turns it into a fault and logs it
			}
			g.svc.AuditEnd(ctx, err)
		}()
		return m(ctx, p)
	}
}

// auditList is berth.audit.list(apikey, {object, method, transport, since, until,
// items_per_page, before_id}): the caller's own entries, newest first.
func (g *gandi) auditList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	m, err := xmlrpc.OptStruct(p, 1, "opts")
	if err != nil {
		return nil, err
	}
	var q api.AuditQuery
	for key, dst := range map[string]*string{"object": &q.Object, "method": &q.Method, "transport": &q.Transport} {
		if *dst, err = memberString(api.ObjUnknown, m, key); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if *dst, err = memberTime(m, key); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]*int64{"items_per_page": &q.Limit, "before_id": &q.BeforeID} {
		if *dst, _, err = memberInt(api.ObjUnknown, m, key); err != nil {
			return nil, err
		}
	}
	list, err := g.svc.Audit(ctx, c, q)
	if err != nil {
		return nil, err
	}
	return shapeAll(list, auditWire), nil
}

// memberTime reads an optional dateTime member, or an RFC 3339 string.
func memberTime(m map[string]any, key string) (time.Time, error) {
	switch v := m[key].(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v, nil
	case string:
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, invalid(api.ObjUnknown, "%s %q: want a dateTime or RFC 3339 time", key, v)
		}
		return t, nil
	}
	return time.Time{}, invalid(api.ObjUnknown, "%s must be a dateTime", key)
}

// auditWire is an audit entry on the wire; params is the JSON text of the masked parameters.
func auditWire(e api.AuditEntry) wire {
	return wire{"id": e.ID, "date": e.Time.UTC(), "account_id": e.AccountID, "actor": e.Actor, "key_id": e.KeyID,
		"transport": e.Transport, "method": e.Method, "object": e.Object, "params": string(e.Params), "client_addr": e.ClientAddr,
		"result": e.Result, "message": e.Message, "operations": ids(e.Operations)}
}
