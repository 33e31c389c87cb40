package gandi

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// snapshotProfileWire is a SnapshotProfileReturn (gandi-api.md §3.11).
func snapshotProfileWire(p api.SnapshotProfile) wire {
	sch := make([]any, len(p.Schedules))
	for i, s := range p.Schedules {
		sch[i] = wire{"name": s.Name, "kept_version": s.Keep}
	}
	return wire{"id": p.ID, "name": p.Name, "kept_total": p.KeptTotal, "quota_factor": p.QuotaFactor, "schedules": sch}
}

// diskProfileWire is a disk's nested snapshot_profile: the profile, or nil.
func diskProfileWire(id int64) any {
	if id == 0 {
		return nil
	}
	p, ok := service.SnapshotProfile(id)
	if !ok {
		return wire{"id": id, "name": ""}
	}
	return snapshotProfileWire(p)
}

func (g *gandi) snapshotProfileList(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return list(api.ObjSnapshotProfile, g.svc.SnapshotProfileList, snapshotProfileWire)(ctx, c, p)
}

func (g *gandi) snapshotProfileInfo(ctx context.Context, c *service.Caller, p []any) (any, error) {
	return byID("profile_id", g.svc.SnapshotProfileInfo, func(p *api.SnapshotProfile) any { return snapshotProfileWire(*p) })(ctx, c, p)
}
