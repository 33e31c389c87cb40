package ops

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// workerID is the River client id of a process named name: "berth:<name>:<start>", unique
// per start. "" lets River choose one.
func workerID(name string, now time.Time) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf("berth:%s:%d", name, now.UnixNano())
}

// TakeOver makes the jobs of the given (shared) queues that the dead process named name was
// running available again, at once, for the processes still working those queues: a host
// that stopped answering is not waiting for River's rescuer (RescueAfter, half an hour).
// Every operation step is idempotent, and the dead process ran nothing since it went
// silent, so the step runs once more, and completes once. It returns how many jobs it
// freed. Only PostgreSQL has several processes; on SQLite it does nothing.
func (e *Engine) TakeOver(ctx context.Context, name string, queues []string) (int64, error) {
	if e.st.Dialect() != "postgres" || name == "" || len(queues) == 0 {
		return 0, nil
	}
	prefix := "berth:" + name + ":" // workerID's
	var total int64
	for _, q := range queues {
		res, err := e.st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
			WHERE state = 'running' AND queue = $1 AND attempted_by[array_length(attempted_by, 1)] LIKE $2`,
			q, likeEscape(prefix)+"%")
		if err != nil {
			return total, fmt.Errorf("take over the jobs of %s in queue %s: %w", name, q, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	if total > 0 {
		e.log.Warn("took over the running jobs of a host that went down", "host", name, "jobs", total)
	}
	return total, nil
}

// likeEscape escapes LIKE's wildcards.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}
