package api

import "time"

// SnapshotProfile is a rule for taking a disk's snapshots automatically: each schedule
// takes one snapshot every Every and keeps its last Keep ones.
type SnapshotProfile struct {
	ID          int64
	Name        string
	KeptTotal   int64   // the sum of the schedules' Keep
	QuotaFactor float64 // how much more disk space the snapshots take, roughly
	Schedules   []SnapshotSchedule
}

// SnapshotSchedule is one schedule of a snapshot profile.
type SnapshotSchedule struct {
	Name  string // hourly6, daily, weekly4 (as Gandi names them)
	Every time.Duration
	Keep  int64 // snapshots of this schedule kept (Gandi's kept_version)
}
