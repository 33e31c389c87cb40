package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/store"
)

// Snapshot profiles are Berth's, the same for every account, as Gandi's were: each
// schedule takes one snapshot of the disk every Every and keeps the last Keep of them.
// Snapshots taken by hand are never pruned.
var snapshotProfiles = []api.SnapshotProfile{
	{ID: 1, Name: "minimal", QuotaFactor: 1.2, Schedules: []api.SnapshotSchedule{
		{Name: "daily", Every: 24 * time.Hour, Keep: 2},
	}},
	{ID: 2, Name: "full_week", QuotaFactor: 1.7, Schedules: []api.SnapshotSchedule{
		{Name: "daily", Every: 24 * time.Hour, Keep: 7},
	}},
	{ID: 3, Name: "security", QuotaFactor: 2.0, Schedules: []api.SnapshotSchedule{
		{Name: "hourly6", Every: 6 * time.Hour, Keep: 3},
		{Name: "daily", Every: 24 * time.Hour, Keep: 6},
		{Name: "weekly4", Every: 4 * 7 * 24 * time.Hour, Keep: 1},
	}},
}

func init() {
	for i := range snapshotProfiles {
		p := &snapshotProfiles[i]
		for _, s := range p.Schedules {
			p.KeptTotal += s.Keep
		}
	}
}

// SnapshotTickEvery is how often the scheduler looks for snapshots to take and prune. A
// schedule's snapshot is taken at the first tick after it is due.
const SnapshotTickEvery = time.Minute

// SnapshotProfile returns a profile by id.
func SnapshotProfile(id int64) (api.SnapshotProfile, bool) {
	for _, p := range snapshotProfiles {
		if p.ID == id {
			return p, true
		}
	}
	return api.SnapshotProfile{}, false
}

// SnapshotProfileList lists the profiles, filtered by id and name (the filters gandi.cli
// sends); other filters are ignored (D5).
func (s *Service) SnapshotProfileList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.SnapshotProfile, error) {
	out := []api.SnapshotProfile{}
	for _, p := range snapshotProfiles {
		if matchProfile(p, o.Filters) {
			out = append(out, p)
		}
	}
	return out, nil
}

func matchProfile(p api.SnapshotProfile, filters []api.Filter) bool {
	return matchFields(filters, func(field string) (any, bool) {
		switch field {
		case "id":
			return p.ID, true
		case "name":
			return p.Name, true
		case "kept_total":
			return p.KeptTotal, true
		}
		return nil, false
	})
}

// SnapshotProfileInfo returns one profile.
func (s *Service) SnapshotProfileInfo(ctx context.Context, c *Caller, id int64) (*api.SnapshotProfile, error) {
	p, ok := SnapshotProfile(id)
	if !ok {
		return nil, api.NotFoundErr(api.ObjSnapshotProfile, id)
	}
	return &p, nil
}

// checkProfile validates the snapshot profile a data disk is given (0: none).
func checkProfile(id int64) error {
	if id == 0 {
		return nil
	}
	if _, ok := SnapshotProfile(id); !ok {
		return api.Errorf(api.Invalid, api.ObjDisk, "snapshot_profile %d is not one of hosting.snapshotprofile.list", id)
	}
	return nil
}

// SnapshotTick takes the snapshots that the disks' profiles have due and prunes the ones
// past their schedule's count. Its state is the store's (the snapshots and their
// schedules), so a tick missed while no daemon ran is made up at the next one (one
// snapshot, not one per missed period), and ticks that overlap (several processes) take
// nothing twice: each disk is planned in its own transaction, under a lock on the disk.
func (s *Service) SnapshotTick(ctx context.Context) error {
	var list []*store.Disk
	if err := s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		list, err = tx.ProfiledDisks()
		return err
	}); err != nil {
		return fmt.Errorf("snapshot profiles: %w", err)
	}
	var errs []error
	for _, d := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.snapshotDisk(ctx, d.AccountID, d.ID); err != nil {
			if ae := api.AsError(err); ae != nil {
				// an expected refusal (no credit, host down): logged, tried again next tick
				s.log.Info("scheduled snapshot not taken", "disk", d.ID, "reason", ae.Message)
				continue
			}
			errs = append(errs, fmt.Errorf("disk %d: %w", d.ID, err))
		}
	}
	return errors.Join(errs...)
}

// snapshotDisk takes the due snapshots of one disk and prunes its old ones.
func (s *Service) snapshotDisk(ctx context.Context, accountID, diskID int64) error {
	return s.st.Write(ctx, func(tx store.Tx) error {
		if err := tx.Lock(fmt.Sprintf("snapshot-profile-disk-%d", diskID)); err != nil {
			return err
		}
		d, err := tx.Disk(accountID, diskID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted since the list
		}
		if err != nil {
			return err
		}
		p, ok := SnapshotProfile(d.SnapshotProfileID)
		if !ok || d.Type != api.DiskData || d.State != api.StateCreated {
			return nil
		}
		a, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		c := &Caller{AccountID: a.ID, Handle: a.Handle}
		snaps, err := tx.AutoSnapshots(d.ID)
		if err != nil {
			return err
		}
		deleting, err := pendingDeletes(tx, accountID, snaps)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		for _, sch := range p.Schedules {
			var kept []*store.Disk
			for _, sn := range snaps {
				if sn.Schedule == sch.Name && !deleting[sn.ID] {
					kept = append(kept, sn)
				}
			}
			if len(kept) == 0 || !now.Before(kept[len(kept)-1].Created.Add(sch.Every)) {
				sn, err := s.takeScheduled(ctx, tx, c, d, sch.Name, now)
				if err != nil {
					return err
				}
				kept = append(kept, sn)
			}
			for len(kept) > int(sch.Keep) {
				old := kept[0]
				kept = kept[1:]
				if old.State != api.StateCreated {
					continue // still being made: pruned at a later tick
				}
				if err := s.pruneSnapshot(ctx, tx, c, old); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// takeScheduled queues a snapshot of d by the existing snapshot path (disk.create_from of
// type snapshot), recording the schedule that took it.
func (s *Service) takeScheduled(ctx context.Context, tx store.Tx, c *Caller, d *store.Disk, schedule string, now time.Time) (*store.Disk, error) {
	if err := s.requireCredit(tx, c); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s_%s_%s", truncate(d.Name, 200), schedule, now.Format("20060102T1504"))
	if len(name) > 255 || !diskNameRE.MatchString(name) {
		name = fmt.Sprintf("disk%d_%s_%s", d.ID, schedule, now.Format("20060102T1504"))
	}
	sn, op, err := s.newDiskFrom(tx, c, DiskSpec{Type: api.DiskSnapshot, Name: name}, d.ID)
	if err != nil {
		return nil, err
	}
	sn.Schedule = schedule
	if err := tx.UpdateDisk(sn); err != nil {
		return nil, err
	}
	if err := s.submit(ctx, tx, op); err != nil {
		return nil, err
	}
	return sn, nil
}

// pruneSnapshot queues the deletion of an old scheduled snapshot.
func (s *Service) pruneSnapshot(ctx context.Context, tx store.Tx, c *Caller, sn *store.Disk) error {
	op, err := s.newOp(c, ops.DiskDelete, struct{}{})
	if err != nil {
		return err
	}
	op.DiskID, op.DatacenterID = sn.ID, sn.DatacenterID
	if err := onHost(tx, op, sn.Host, api.ObjDisk, sn.ID); err != nil {
		return err
	}
	return s.submit(ctx, tx, op)
}

// pendingDeletes returns which of snaps have a disk_delete not yet ended.
func pendingDeletes(tx store.Tx, accountID int64, snaps []*store.Disk) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(snaps) == 0 {
		return out, nil
	}
	ids := make([]any, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.ID
	}
	list, err := tx.Operations(store.Query{Scope: accountID, Filters: []api.Filter{
		{Field: "type", Op: api.OpEq, Values: []any{ops.DiskDelete}},
		{Field: "disk_id", Op: api.OpIn, Values: ids},
	}})
	if err != nil {
		return nil, err
	}
	for _, o := range list {
		if !api.Terminal(o.Step) || o.Step == api.StepDone {
			out[o.DiskID] = true
		}
	}
	return out, nil
}
