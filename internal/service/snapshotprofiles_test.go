package service_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// clock is a controlled clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// settle waits until the caller has no operation left in WAIT or RUN.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := e.svc.OperationList(e.ctx, e.c, api.ListOptions{PerPage: api.MaxPerPage,
			Filters: []api.Filter{{Field: "step", Op: api.OpIn, Values: []any{api.StepWait, api.StepRun}}}})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(list) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("operations still running: %+v", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snaps returns a disk's snapshots (ids, in order) and their names.
func (e *env) snaps(disk int64) ([]int64, []string) {
	e.t.Helper()
	d, err := e.svc.DiskInfo(e.ctx, e.c, disk)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, id := range d.SnapshotsID {
		s, err := e.svc.DiskInfo(e.ctx, e.c, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if s.Type != api.DiskSnapshot || s.Source != disk || s.State != api.StateCreated {
			e.t.Fatalf("snapshot %d of %d: %+v", id, disk, s)
		}
		names = append(names, s.Name)
	}
	return d.SnapshotsID, names
}

// TestSnapshotProfiles drives the scheduler with a controlled clock: a schedule takes a
// snapshot when it is due (once, however many ticks), keeps its last N, prunes the older
// ones and never a snapshot taken by hand; removing the profile stops it.
func TestSnapshotProfiles(t *testing.T) {
	e := newEnv(t)
	clk := &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	e.svc.SetClock(clk.Now)
	t0 := clk.Now()

	// The catalog, filtered as gandi.cli filters it.
	all, err := e.svc.SnapshotProfileList(e.ctx, e.c, api.ListOptions{})
	if err != nil || len(all) != 3 {
		t.Fatalf("profiles %+v, %v", all, err)
	}
	for _, p := range all {
		var sum int64
		for _, s := range p.Schedules {
			sum += s.Keep
		}
		if p.KeptTotal != sum || p.KeptTotal == 0 {
			t.Errorf("profile %s: kept_total %d, schedules keep %d", p.Name, p.KeptTotal, sum)
		}
	}
	byName, _ := e.svc.SnapshotProfileList(e.ctx, e.c, api.ListOptions{Filters: []api.Filter{{Field: "name", Values: []any{"minimal"}}}})
	if len(byName) != 1 || byName[0].ID != 1 {
		t.Fatalf("name filter: %+v", byName)
	}
	if _, err := e.svc.SnapshotProfileInfo(e.ctx, e.c, 42); !api.IsCode(err, api.NotFound) {
		t.Fatalf("info of a missing profile: %v", err)
	}

	// Bad profiles are refused.
	_, err = e.svc.DiskCreate(e.ctx, e.c, service.DiskSpec{DatacenterID: 1, SnapshotProfile: 42})
	wantCode(t, err, api.Invalid)

	// minimal: daily, keep 2.
	disk := e.must(e.svc.DiskCreate(e.ctx, e.c, service.DiskSpec{DatacenterID: 1, Name: "data", SnapshotProfile: 1})).DiskID
	manual := e.must(e.svc.DiskCreateFrom(e.ctx, e.c, service.DiskSpec{Type: api.DiskSnapshot, Name: "byhand"}, disk)).DiskID

	tick := func(at time.Duration) {
		t.Helper()
		clk.set(t0.Add(at))
		if err := e.svc.SnapshotTick(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
	}
	tick(0)
	ids, names := e.snaps(disk)
	if len(ids) != 2 || ids[0] != manual || names[1] != "data_daily_20260301T1000" {
		t.Fatalf("after the first tick: %v %v", ids, names)
	}
	first := ids[1]
	tick(time.Minute)
	tick(23 * time.Hour) // not due yet
	if ids, _ := e.snaps(disk); len(ids) != 2 {
		t.Fatalf("a snapshot taken before it was due: %v", ids)
	}
	tick(24 * time.Hour)
	tick(24*time.Hour + time.Minute)
	ids, _ = e.snaps(disk)
	if len(ids) != 3 {
		t.Fatalf("after a day: %v", ids)
	}
	second := ids[2]
	tick(49 * time.Hour) // a late tick: one snapshot, and the oldest pruned
	ids, names = e.snaps(disk)
	if len(ids) != 3 || ids[0] != manual || ids[1] != second || slices.Contains(ids, first) {
		t.Fatalf("after two days: %v %v (first %d, second %d)", ids, names, first, second)
	}
	if names[2] != "data_daily_20260303T1100" {
		t.Errorf("third snapshot named %q", names[2])
	}
	if _, err := e.svc.DiskInfo(e.ctx, e.c, first); !api.IsCode(err, api.NotFound) {
		t.Errorf("pruned snapshot %d: %v", first, err)
	}

	// Removing the profile stops the schedule and keeps what was taken.
	zero := int64(0)
	e.must(e.svc.DiskUpdate(e.ctx, e.c, disk, service.DiskUpdate{SnapshotProfile: &zero}))
	before, _ := e.snaps(disk)
	tick(10 * 24 * time.Hour)
	if after, _ := e.snaps(disk); !cmp.Equal(before, after) {
		t.Fatalf("snapshots changed without a profile: %v → %v", before, after)
	}

	// security: three schedules, each with its own count.
	three := int64(3)
	e.must(e.svc.DiskUpdate(e.ctx, e.c, disk, service.DiskUpdate{SnapshotProfile: &three}))
	for h := 0; h <= 30; h += 6 {
		tick(20*24*time.Hour + time.Duration(h)*time.Hour)
	}
	_, names = e.snaps(disk)
	count := map[string]int{}
	for _, n := range names {
		for _, s := range []string{"hourly6", "daily", "weekly4"} {
			if strings.HasPrefix(n, "data_"+s+"_") {
				count[s]++
			}
		}
	}
	// hourly6 ran 6 times and keeps 3; daily ran twice (day 20, day 21) plus one of
	// minimal's left from before, under the same schedule name; weekly4 once.
	if want := map[string]int{"hourly6": 3, "daily": 4, "weekly4": 1}; !cmp.Equal(count, want) {
		t.Errorf("security profile kept %v, want %v (%v)", count, want, names)
	}

	// A snapshot cannot get a profile; another account's disk cannot be given one.
	_, err = e.svc.DiskUpdate(e.ctx, e.c, manual, service.DiskUpdate{SnapshotProfile: &three})
	wantCode(t, err, api.Invalid)
	b, _, err := e.svc.CreateAccount(e.ctx, "bob", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DiskUpdate(e.ctx, &service.Caller{AccountID: b.ID, Handle: b.Handle}, disk, service.DiskUpdate{SnapshotProfile: &three})
	wantCode(t, err, api.NotFound)
}
