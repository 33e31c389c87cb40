package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Periodic is background work that runs every Every on one process of the cluster: River's
// elected leader inserts its job, and one worker of Queue runs it. Run must be safe to run
// twice at once (a leader change may overlap two runs) and keep its state in the store.
type Periodic struct {
	Name  string
	Every time.Duration
	Queue string
	Run   func(ctx context.Context) error
}

// TickArgs is the River job of one run of a Periodic.
type TickArgs struct {
	Name string `json:"name"`
}

// Kind names the job kind in River.
func (TickArgs) Kind() string { return "berth_tick" }

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	e *Engine
}

// Work runs one tick. A failed tick is not retried: the next one does its work.
func (w *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	for _, p := range w.e.cfg.Periodic {
		if p.Name == job.Args.Name {
			if err := p.Run(ctx); err != nil {
				w.e.log.Warn("periodic work failed", "name", p.Name, "err", err)
			}
			return nil
		}
	}
	return river.JobCancel(fmt.Errorf("no periodic work named %q", job.Args.Name))
}

// periodicJobs are the River periodic jobs of cfg.
func periodicJobs(cfg Config) []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, p := range cfg.Periodic {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(p.Every),
			func() (river.JobArgs, *river.InsertOpts) {
				o := &river.InsertOpts{Queue: p.Queue, MaxAttempts: 1}
				if p.Every >= time.Second { // River's floor: one job per period, even across a leader change
					o.UniqueOpts = river.UniqueOpts{ByArgs: true, ByPeriod: p.Every}
				}
				return TickArgs{Name: p.Name}, o
			}, &river.PeriodicJobOpts{ID: p.Name, RunOnStart: true}))
	}
	return out
}
