// Package ops carries out Berth's asynchronous operations durably on River. The operation row
// (store.Operation) is what the API shows; a River job carries it out through the steps
// BILL → WAIT → RUN → DONE, or ERROR with a last_error, or CANCEL. Every attempt is
// idempotent: River delivers at least once, and a daemon killed mid-operation runs the
// interrupted attempt again after it restarts.
package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// Handler is the domain logic of operations, implemented by the service layer (state rules)
// and the agent (host work).
type Handler interface {
	// Begin runs in the transaction that moves the operation to RUN. It re-checks the
	// operation against the current state; an error ends it in ERROR without host work.
	Begin(tx store.Tx, op *store.Operation) error
	// Execute does the host work, outside any transaction. It must be idempotent.
	Execute(ctx context.Context, op *store.Operation) error
	// Complete records the result of a successful Execute.
	Complete(tx store.Tx, op *store.Operation) error
	// Fail undoes what the operation had reserved when it ends in ERROR or CANCEL.
	Fail(tx store.Tx, op *store.Operation, cause error) error
}

// Args is the River job of one operation.
type Args struct {
	OpID  int64 `json:"op_id"`
	Phase int64 `json:"phase,omitempty"` // of a phased operation (see Next)
}

// Kind names the job kind in River.
func (Args) Kind() string { return "berth_operation" }

// Config tunes the engine.
type Config struct {
	Queues []string // the queues this process works; empty means insert only
	// Recover are the queues only this process works: at start, their jobs left running
	// were interrupted by this process's crash and run again at once. Jobs of shared queues
	// are rescued by River after RescueAfter.
	Recover     []string
	RescueAfter time.Duration
	// Worker names this process's River client ("" lets River choose): TakeOver finds the
	// jobs a dead host left running by it.
	Worker     string
	MaxWorkers int
	Logger     *slog.Logger
	Now        func() time.Time
	// SnoozeWait is how long an operation waits before it looks again at an older operation
	// on the same object.
	SnoozeWait time.Duration
	// Periodic is background work run on one process of the cluster (periodic.go).
	Periodic []Periodic
}

// Engine enqueues and works operations.
type Engine struct {
	st      store.Store
	h       Handler
	client  *river.Client[*sql.Tx]
	log     *slog.Logger
	now     func() time.Time
	cfg     Config
	started bool
}

// New builds an engine on the store's database and migrates River's tables.
func New(ctx context.Context, st store.Store, h Handler, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = 16
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = 31 * time.Minute
	}
	if cfg.SnoozeWait == 0 {
		cfg.SnoozeWait = 25 * time.Millisecond
	}
	var driver riverdriver.Driver[*sql.Tx]
	switch st.Dialect() {
	case "sqlite":
		driver = riversqlite.New(st.DB())
	case "postgres":
		driver = riverdatabasesql.New(st.DB())
	default:
		return nil, fmt.Errorf("ops: no River driver for %q", st.Dialect())
	}
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(cfg.Logger)})
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	e := &Engine{st: st, h: h, log: cfg.Logger, now: cfg.Now, cfg: cfg}
	rc := &river.Config{
		ID:                   workerID(cfg.Worker, cfg.Now()),
		Logger:               quiet(cfg.Logger),
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    25 * time.Millisecond,
		JobTimeout:           30 * time.Minute,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          10,
	}
	if len(cfg.Queues) > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &worker{e: e})
		river.AddWorker(workers, &tickWorker{e: e})
		rc.Workers = workers
		rc.PeriodicJobs = periodicJobs(cfg)
		rc.Queues = map[string]river.QueueConfig{}
		for _, q := range cfg.Queues {
			rc.Queues[q] = river.QueueConfig{MaxWorkers: cfg.MaxWorkers}
		}
	}
	e.client, err = river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return e, nil
}

// quiet keeps River's own info logs out of berthd's log; its warnings and errors stay.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

// Start recovers the jobs this process had running when it died, then starts working.
func (e *Engine) Start(ctx context.Context) error {
	if len(e.cfg.Queues) == 0 {
		return nil
	}
	if err := e.recover(ctx); err != nil {
		return err
	}
	if err := e.client.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	e.started = true
	return nil
}

// Stop waits for running jobs, up to ctx's deadline, then cancels them.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.started {
		return nil
	}
	if err := e.client.Stop(ctx); err != nil {
		return e.client.StopAndCancel(context.Background())
	}
	return nil
}

// recover makes the jobs left "running" on this process's queues available again. Only this
// process works these queues, so at start nothing of theirs can really be running: they were
// interrupted by a crash. River's own rescuer would do the same, but only after an hour.
func (e *Engine) recover(ctx context.Context) error {
	now := "datetime('now', 'subsec')"
	if e.st.Dialect() == "postgres" {
		now = "now()"
	}
	for _, q := range e.cfg.Recover {
		res, err := e.st.DB().ExecContext(ctx,
			`UPDATE river_job SET state = 'available', scheduled_at = `+now+` WHERE state = 'running' AND queue = $1`, q)
		if err != nil {
			return fmt.Errorf("recover queue %s: %w", q, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			e.log.Info("resuming interrupted operations", "queue", q, "jobs", n)
		}
	}
	return nil
}

// Enqueue inserts the job of op in tx: the operation runs only if tx commits.
func (e *Engine) Enqueue(ctx context.Context, tx store.Tx, op *store.Operation) error {
	_, err := e.client.InsertTx(ctx, tx.SQLTx(), Args{OpID: op.ID}, riverOpts(op))
	if err != nil {
		return fmt.Errorf("enqueue operation %d: %w", op.ID, err)
	}
	return nil
}

func riverOpts(op *store.Operation) *river.InsertOpts { return &river.InsertOpts{Queue: op.Queue} }

type worker struct {
	river.WorkerDefaults[Args]
	e *Engine
}

var errSnooze = errors.New("snooze")

// Work carries out one attempt of an operation.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	e := w.e
	var op *store.Operation
	var begun error
	stale := false
	err := e.st.Write(ctx, func(tx store.Tx) error {
		var err error
		op, err = tx.Operation(store.AllAccounts, job.Args.OpID)
		if errors.Is(err, store.ErrNotFound) {
			return river.JobCancel(fmt.Errorf("operation %d not found", job.Args.OpID))
		}
		if err != nil {
			return err
		}
		if api.Terminal(op.Step) || job.Args.Phase != phaseOf(op) {
			stale = !api.Terminal(op.Step)
			return nil // done, or a phase already recorded as done
		}
		pending, err := tx.PendingBefore(waitsFor(op))
		if err != nil {
			return err
		}
		if pending {
			return errSnooze
		}
		if op.Step != api.StepRun {
			begun = e.h.Begin(tx, op)
			if errors.Is(begun, ErrWait) {
				return errSnooze
			}
			if begun != nil {
				return e.finish(tx, op, begun)
			}
			now := e.now().UTC()
			op.Step, op.Started, op.Updated = api.StepRun, &now, now
			return tx.UpdateOperation(op)
		}
		return nil
	})
	switch {
	case errors.Is(err, errSnooze):
		return river.JobSnooze(e.cfg.SnoozeWait)
	case err != nil:
		return err
	case api.Terminal(op.Step) || stale:
		return nil
	}
	execErr := e.h.Execute(ctx, op)
	var next *Next
	if errors.As(execErr, &next) {
		err := e.st.Write(ctx, func(tx store.Tx) error {
			cur, err := tx.Operation(store.AllAccounts, op.ID)
			if err != nil {
				return err
			}
			if api.Terminal(cur.Step) || phaseOf(cur) != job.Args.Phase {
				return nil
			}
			return e.advance(ctx, tx, cur, next)
		})
		if api.AsError(err) == nil {
			return err
		}
		// The handler refused the next phase (Advancer): nothing of it was written; the
		// operation ends in ERROR with that cause.
		execErr = err
	}
	if execErr != nil && ctx.Err() != nil {
		// Interrupted by shutdown or the job timeout: River tries again.
		return fmt.Errorf("operation %d interrupted: %w", op.ID, execErr)
	}
	if execErr != nil {
		e.log.Warn("operation failed", "op", op.ID, "type", op.Type, "err", execErr)
	}
	return e.st.Write(ctx, func(tx store.Tx) error {
		cur, err := tx.Operation(store.AllAccounts, op.ID)
		if err != nil {
			return err
		}
		if api.Terminal(cur.Step) {
			return nil
		}
		for k, v := range op.Params { // with the results Execute recorded (SetResult)
			SetResult(cur, k, v)
		}
		return e.finish(tx, cur, execErr)
	})
}

// finish moves op to DONE, or to ERROR when cause is not nil, with its effects.
func (e *Engine) finish(tx store.Tx, op *store.Operation, cause error) error {
	now := e.now().UTC()
	if cause == nil {
		if err := e.h.Complete(tx, op); err != nil {
			cause = err
		}
	}
	if cause != nil {
		if err := e.h.Fail(tx, op, cause); err != nil {
			return fmt.Errorf("fail operation %d: %w", op.ID, err)
		}
		op.Step, op.LastError = api.StepError, LastError(cause)
	} else {
		op.Step = api.StepDone
	}
	op.Updated = now
	if op.Started == nil {
		op.Started = &now
	}
	return tx.UpdateOperation(op)
}

// LastError is the message of an operation's last_error: an *api.Error's message, or the
// error text.
func LastError(err error) string {
	if ae := api.AsError(err); ae != nil {
		return ae.Message
	}
	return err.Error()
}

// ErrWait, returned by Handler.Begin, makes the operation wait for another one (on an
// object it depends on) and look again shortly.
var ErrWait = errors.New("waiting for another operation")

// waitsFor is what an operation waits for: the older operations on its objects. A disk or
// iface being created for a new VM (vm.create_from) needs only its own object, not the
// VM's other parts: they are made in parallel, and vm_create waits for both.
func waitsFor(op *store.Operation) *store.Operation {
	if op.Type != DiskCreate && op.Type != IfaceCreate {
		return op
	}
	o := *op
	o.VMID = 0
	return &o
}
