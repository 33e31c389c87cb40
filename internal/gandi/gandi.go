// Package gandi is the Gandi Hosting XML-RPC API: the method table and every wire shape.
// It is the only package that knows field names like ifaces_id or vm_max_memory; it turns
// XML-RPC values into service calls and service results into Gandi-shaped structs, and
// service errors into Gandi faults (faults.go).
package gandi

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// APIVersion is what version.info reports.
const APIVersion = "3.3.42"

type gandi struct {
	svc *service.Service
}

type handler func(ctx context.Context, c *service.Caller, p []any) (any, error)

// call wraps a handler with authentication, and turns parameter errors into bad-parameter
// faults on the method's object.
func (g *gandi) call(obj api.Object, h handler) xmlrpc.Method {
	return func(ctx context.Context, p []any) (any, error) {
		var key string
		if len(p) > 0 {
			switch k := p[0].(type) {
			case string:
				key = k
			case nil:
			default:
				key = fmt.Sprint(k)
			}
		}
		c, err := g.svc.Auth(ctx, key)
		if err != nil {
			return nil, err
		}
		res, err := h(ctx, c, p)
		var pe *xmlrpc.ParamError
		if errors.As(err, &pe) {
			return nil, invalid(obj, "%s", pe.Error())
		}
		return res, err
	}
}

// Register puts every method and its legacy alias on the server.
func Register(srv *xmlrpc.Server, svc *service.Service) {
	g := &gandi{svc: svc}
	methods := g.methods()
	for name, m := range methods {
		srv.Register(name, g.audited(name, m))
	}
	for _, a := range legacyAliases {
		srv.Register(a, g.audited(a, methods["hosting."+a]))
	}
}

// legacyAliases are the unprefixed API 2.0 names still served (§3.15).
var legacyAliases = []string{
	"vm.list", "vm.count", "vm.info", "vm.create", "vm.create_from", "vm.update", "vm.delete", "vm.start",
	"vm.stop", "vm.reboot", "vm.disk_attach", "vm.disk_detach", "vm.iface_attach", "vm.iface_detach",
	"disk.list", "disk.count", "disk.info", "disk.create", "disk.create_from", "disk.update", "disk.delete",
	"disk.list_kernels", "disk.list_options", "disk.rollback_from", "disk.get_options",
	"iface.list", "iface.count", "iface.info", "iface.create", "iface.update", "iface.delete",
	"ip.list", "ip.count", "ip.info", "ip.update", "image.list", "image.info", "datacenter.list", "account.info",
}

func (g *gandi) methods() map[string]xmlrpc.Method {
	m := map[string]xmlrpc.Method{
		"version.info": g.call(api.ObjUnknown, func(context.Context, *service.Caller, []any) (any, error) {
			return wire{"api_version": APIVersion}, nil
		}),
		"hosting.account.info":       g.call(api.ObjHosting, g.accountInfo),
		"hosting.account.credit":     g.call(api.ObjHosting, g.accountCredit),
		"hosting.rating.list":        g.call(api.ObjHosting, func(context.Context, *service.Caller, []any) (any, error) { return ratingWire(g.svc.Rating()), nil }),
		"contact.balance":            g.call(api.ObjAccount, g.contactBalance),
		"hosting.datacenter.list":    g.call(api.ObjDatacenter, g.datacenterList),
		"hosting.datacenter.info":    g.call(api.ObjDatacenter, g.datacenterInfo),
		"hosting.image.list":         g.call(api.ObjImage, g.imageList),
		"hosting.image.info":         g.call(api.ObjImage, g.imageInfo),
		"operation.info":             g.call(api.ObjOperation, g.operationInfo),
		"operation.list":             g.call(api.ObjOperation, g.operationList),
		"operation.count":            g.call(api.ObjOperation, g.operationCount),
		"operation.cancel":           g.call(api.ObjOperation, g.operationCancel),
		"operation.delete":           g.call(api.ObjOperation, g.operationCancel),
		"operation.relaunch":         g.call(api.ObjOperation, g.operationRelaunch),
		"hosting.ssh.list":           g.call(api.ObjSSHKey, g.sshList),
		"hosting.ssh.count":          g.call(api.ObjSSHKey, g.sshCount),
		"hosting.ssh.info":           g.call(api.ObjSSHKey, g.sshInfo),
		"hosting.ssh.create":         g.call(api.ObjSSHKey, g.sshCreate),
		"hosting.ssh.delete":         g.call(api.ObjSSHKey, g.sshDelete),
		"hosting.vlan.list":          g.call(api.ObjVLAN, g.vlanList),
		"hosting.vlan.count":         g.call(api.ObjVLAN, g.vlanCount),
		"hosting.vlan.info":          g.call(api.ObjVLAN, g.vlanInfo),
		"hosting.vlan.create":        g.call(api.ObjVLAN, g.vlanCreate),
		"hosting.vlan.update":        g.call(api.ObjVLAN, g.vlanUpdate),
		"hosting.vlan.delete":        g.call(api.ObjVLAN, g.vlanDelete),
		"hosting.ip.list":            g.call(api.ObjIP, g.ipList),
		"hosting.ip.count":           g.call(api.ObjIP, g.ipCount),
		"hosting.ip.info":            g.call(api.ObjIP, g.ipInfo),
		"hosting.ip.update":          g.call(api.ObjIP, g.ipUpdate),
		"hosting.iface.list":         g.call(api.ObjIface, g.ifaceList),
		"hosting.iface.count":        g.call(api.ObjIface, g.ifaceCount),
		"hosting.iface.info":         g.call(api.ObjIface, g.ifaceInfo),
		"hosting.iface.create":       g.call(api.ObjIface, g.ifaceCreate),
		"hosting.iface.update":       g.call(api.ObjIface, g.ifaceUpdate),
		"hosting.iface.delete":       g.call(api.ObjIface, g.ifaceDelete),
		"hosting.disk.list":          g.call(api.ObjDisk, g.diskList),
		"hosting.disk.count":         g.call(api.ObjDisk, g.diskCount),
		"hosting.disk.info":          g.call(api.ObjDisk, g.diskInfo),
		"hosting.disk.create":        g.call(api.ObjDisk, g.diskCreate),
		"hosting.disk.create_from":   g.call(api.ObjDisk, g.diskCreateFrom),
		"hosting.disk.update":        g.call(api.ObjDisk, g.diskUpdate),
		"hosting.disk.delete":        g.call(api.ObjDisk, g.diskDelete),
		"hosting.disk.rollback_from": g.call(api.ObjDisk, g.diskRollback),
		"hosting.disk.list_kernels":  g.call(api.ObjDisk, g.diskListKernels),
		"hosting.disk.list_options":  g.call(api.ObjDisk, g.diskListOptions),
		"hosting.disk.get_options":   g.call(api.ObjDisk, g.diskGetOptions),
		"hosting.vm.list":            g.call(api.ObjVM, g.vmList),
		"hosting.vm.count":           g.call(api.ObjVM, g.vmCount),
		"hosting.vm.info":            g.call(api.ObjVM, g.vmInfo),
		"hosting.vm.create":          g.call(api.ObjVM, g.vmCreate),
		"hosting.vm.create_from":     g.call(api.ObjVM, g.vmCreateFrom),
		"hosting.vm.update":          g.call(api.ObjVM, g.vmUpdate),
		"hosting.vm.start":           g.call(api.ObjVM, g.vmAction(g.svc.VMStart)),
		"hosting.vm.stop":            g.call(api.ObjVM, g.vmAction(g.svc.VMStop)),
		"hosting.vm.reboot":          g.call(api.ObjVM, g.vmAction(g.svc.VMReboot)),
		"hosting.vm.delete":          g.call(api.ObjVM, g.vmAction(g.svc.VMDelete)),
		"hosting.vm.disk_attach":     g.call(api.ObjVM, g.vmDiskAttach),
		"hosting.vm.disk_detach":     g.call(api.ObjVM, g.vmDiskDetach),
		"hosting.vm.iface_attach":    g.call(api.ObjVM, g.vmIfaceAttach),
		"hosting.vm.iface_detach":    g.call(api.ObjVM, g.vmIfaceDetach),
		"hosting.vm.can_migrate":     g.call(api.ObjVM, g.vmCanMigrate),
		"hosting.vm.migrate":         g.call(api.ObjVM, g.vmMigrate),
		"hosting.disk.migrate":       g.call(api.ObjDisk, g.diskMigrate),
	}
	m["hosting.snapshotprofile.list"] = g.call(api.ObjSnapshotProfile, g.snapshotProfileList)
	m["hosting.snapshotprofile.info"] = g.call(api.ObjSnapshotProfile, g.snapshotProfileInfo)
	m["hosting.metric.query"] = g.call(api.ObjMetric, g.metricQuery)
	g.accessMethods(m)
	return m
}
