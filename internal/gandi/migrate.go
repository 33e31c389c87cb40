package gandi

import (
	"context"

	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// hosting.vm.can_migrate(apikey, vm_id) → {can_migrate, matched, can_migrate_to} (dc codes).
func (g *gandi) vmCanMigrate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("vm_id", g.svc.VMCanMigrate, func(m *service.MigrateCheck) any {
		return wire{"can_migrate": m.CanMigrate, "matched": strs(m.Matched), "can_migrate_to": strs(m.CanMigrateTo)}
	})(ctx, c, p)
}

// hosting.vm.migrate(apikey, vm_id[, finalize]) → operation hosting_migration_vm.
func (g *gandi) vmMigrate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "vm_id")
	if err != nil {
		return nil, err
	}
	finalize := false
	if len(p) > 2 {
		if finalize, err = xmlrpc.Bool(p, 2, "finalize"); err != nil {
			return nil, err
		}
	}
	op, err := g.svc.VMMigrate(ctx, c, id, finalize)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

// hosting.disk.migrate(apikey, disk_id, datacenter_id) → operation hosting_migration_disk.
func (g *gandi) diskMigrate(ctx context.Context, c *service.Caller, p []any) (any, error) {
	id, err := xmlrpc.Int(p, 1, "disk_id")
	if err != nil {
		return nil, err
	}
	to, err := xmlrpc.Int(p, 2, "datacenter_id")
	if err != nil {
		return nil, err
	}
	op, err := g.svc.DiskMigrate(ctx, c, id, to)
	if err != nil {
		return nil, err
	}
	return opShort(*op), nil
}

func strs(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
