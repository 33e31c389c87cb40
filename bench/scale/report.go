package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
)

// result is one configuration's measure.
type result struct {
	setup setup
	load  load
	jobs  []job
}

// job is one finished River job of an operation.
type job struct {
	typ, queue, state string
	latency           time.Duration // enqueued → finished
	snoozes           int           // times it waited for an older operation on its objects
	attempt           int
}

// jobQuery returns the query of the finished operation jobs with their operation's type,
// for a database/sql driver.
func jobQuery(driver string) (string, bool) {
	switch driver {
	case "pgx":
		return `SELECT o.type, j.queue, j.state::text, j.attempt, COALESCE((j.metadata->>'snoozes')::bigint, 0),
		EXTRACT(EPOCH FROM (j.finalized_at - j.created_at))::float8
		FROM river_job j JOIN operations o ON o.id = (j.args->>'op_id')::bigint
		WHERE j.kind = 'berth_operation' AND j.finalized_at IS NOT NULL ORDER BY j.id`, true
	case "sqlite":
		return `SELECT o.type, j.queue, j.state, j.attempt, COALESCE(json_extract(j.metadata, '$.snoozes'), 0),
		(julianday(j.finalized_at) - julianday(j.created_at)) * 86400.0
		FROM river_job j JOIN operations o ON o.id = json_extract(j.args, '$.op_id')
		WHERE j.kind = 'berth_operation' AND j.finalized_at IS NOT NULL ORDER BY j.id`, true
	}
	return "", false
}

// readJobs reads the finished operation jobs of a configuration's database (its only
// account is the bench's).
func readJobs(ctx context.Context, d database) ([]job, error) {
	q, ok := jobQuery(d.driver)
	if !ok {
		return nil, fmt.Errorf("no river_job query for %s", d.driver)
	}
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []job
	for rows.Next() {
		var j job
		var secs sql.NullFloat64
		if err := rows.Scan(&j.typ, &j.queue, &j.state, &j.attempt, &j.snoozes, &secs); err != nil {
			return nil, err
		}
		if !secs.Valid {
			return nil, fmt.Errorf("job of a %s operation: unreadable created_at or finalized_at", j.typ)
		}
		j.latency = time.Duration(secs.Float64 * float64(time.Second))
		out = append(out, j)
	}
	return out, rows.Err()
}

// quantile returns the q-quantile of ds (nearest rank); zero for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// typeOrder is the order operation types are shown in.
func typeOrder() []string {
	return []string{"disk_create", "iface_create", "vm_create", "vm_stop", "vm_delete"}
}

// printBreakdown prints, per operation type, how long its jobs took from enqueue to finish,
// how often they snoozed, and on which queues they ran.
func printBreakdown(out io.Writer, r result) {
	byType := map[string][]job{}
	for _, j := range r.jobs {
		byType[j.typ] = append(byType[j.typ], j)
	}
	types := typeOrder()
	for _, t := range slices.Sorted(maps.Keys(byType)) {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	fmt.Fprintln(out, "  operations, enqueued → finished (River's river_job rows):")
	fmt.Fprintf(out, "    %-13s %6s %10s %10s %10s %9s  %s\n", "type", "count", "median", "p90", "max", "snoozes", "queues")
	for _, t := range types {
		js := byType[t]
		if len(js) == 0 {
			continue
		}
		var lat []time.Duration
		snoozes, retried := 0, 0
		queues := map[string]int{}
		for _, j := range js {
			lat = append(lat, j.latency)
			snoozes += j.snoozes
			queues[j.queue]++
			if j.attempt > 1 {
				retried++
			}
		}
		var qs []string
		for _, q := range slices.Sorted(maps.Keys(queues)) {
			qs = append(qs, fmt.Sprintf("%s %d", q, queues[q]))
		}
		note := ""
		if retried > 0 {
			note = fmt.Sprintf("; %d retried", retried)
		}
		fmt.Fprintf(out, "    %-13s %6d %10s %10s %10s %9.2f  %s%s\n", t, len(js), ms(quantile(lat, 0.5)), ms(quantile(lat, 0.9)),
			ms(quantile(lat, 1)), float64(snoozes)/float64(len(js)), strings.Join(qs, ", "), note)
	}
}

// rate is items per second over d.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// summary is a configuration's measures over the rounds.
type summary struct {
	setup                setup
	creates, deletes     []float64 // VMs/s per round
	createOps, deleteOps []float64 // operations/s per round
	create, stop, del    phase     // all rounds' call latencies, wall times summed
	cpuCreate, cpuDelete map[string]time.Duration
	rounds               int
}

// summarize gathers the rounds of each configuration, in the order of setups.
func summarize(o options, setups []setup, rs []result) []summary {
	var out []summary
	for _, s := range setups {
		sm := summary{setup: s, cpuCreate: map[string]time.Duration{}, cpuDelete: map[string]time.Duration{}}
		for _, r := range rs {
			if r.setup.name != s.name {
				continue
			}
			l := r.load
			dw := l.stop.wall + l.del.wall
			sm.rounds++
			sm.creates = append(sm.creates, rate(o.vms, l.create.wall))
			sm.createOps = append(sm.createOps, rate(l.create.ops, l.create.wall))
			sm.deletes = append(sm.deletes, rate(o.vms, dw))
			sm.deleteOps = append(sm.deleteOps, rate(l.stop.ops+l.del.ops, dw))
			for _, x := range []struct{ dst, src *phase }{{&sm.create, &l.create}, {&sm.stop, &l.stop}, {&sm.del, &l.del}} {
				x.dst.lat = append(x.dst.lat, x.src.lat...)
				x.dst.wall += x.src.wall
			}
			for g, d := range l.create.cpu {
				sm.cpuCreate[g] += d
			}
			for _, p := range []phase{l.stop, l.del} {
				for g, d := range p.cpu {
					sm.cpuDelete[g] += d
				}
			}
		}
		out = append(out, sm)
	}
	return out
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// spread formats the median of xs with its min and max.
func spread(xs []float64) string {
	if len(xs) == 1 {
		return fmt.Sprintf("%.1f", xs[0])
	}
	return fmt.Sprintf("%.1f (%.1f-%.1f)", median(xs), slices.Min(xs), slices.Max(xs))
}

// cpuPerRound formats the mean CPU time per round of each group.
func cpuPerRound(cpu map[string]time.Duration, rounds int) string {
	var parts []string
	for _, g := range []string{"berthd", "agents", "postgres"} {
		if d, ok := cpu[g]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f s", g, d.Seconds()/float64(rounds)))
		}
	}
	return strings.Join(parts, ", ")
}

// report prints the configurations side by side: medians over the rounds, with their
// ratios to SQLite.
func report(out io.Writer, o options, setups []setup, rs []result) {
	sms := summarize(o, setups, rs)
	fmt.Fprintf(out, "\nVM create and delete throughput, sim backend (--sim-latency %s), %d VMs, %d clients, %d round(s)\n", o.simLatency, o.vms, o.clients, o.rounds)
	fmt.Fprintln(out, "creates: hosting.vm.create_from (3 operations each), first call → all operations done;")
	fmt.Fprintln(out, "deletes: hosting.vm.stop of all, then hosting.vm.delete of all (2 operations per VM), first stop → all done;")
	fmt.Fprintln(out, "VMs per second: median over the rounds (min-max); ratio: of the medians, to sqlite")
	var base *summary
	for i := range sms {
		if sms[i].setup.name == "sqlite" {
			base = &sms[i]
		}
	}
	ratio := func(x, b []float64) string {
		if base == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f", median(x)/median(b))
	}
	fmt.Fprintf(out, "\n%-32s %-20s %7s %6s   %-20s %7s %6s\n", "configuration", "creates/s", "ops/s", "ratio", "deletes/s", "ops/s", "ratio")
	for _, s := range sms {
		cr, dr := "-", "-"
		if base != nil {
			cr, dr = ratio(s.creates, base.creates), ratio(s.deletes, base.deletes)
		}
		fmt.Fprintf(out, "%-32s %-20s %7.1f %6s   %-20s %7.1f %6s\n", s.setup.name+": "+s.setup.desc,
			spread(s.creates), median(s.createOps), cr, spread(s.deletes), median(s.deleteOps), dr)
	}
	printAgentScaling(out, sms)
	fmt.Fprintf(out, "\n%-32s %20s %20s %20s\n", "call latency p50 / p99", "vm.create_from", "vm.stop", "vm.delete")
	for _, s := range sms {
		cell := func(p phase) string { return ms(quantile(p.lat, 0.5)) + " / " + ms(quantile(p.lat, 0.99)) }
		fmt.Fprintf(out, "%-32s %20s %20s %20s\n", s.setup.name, cell(s.create), cell(s.stop), cell(s.del))
	}
	fmt.Fprintf(out, "\n%-32s %12s %12s %12s\n", "phase wall time (mean)", "create", "stop", "delete")
	for _, s := range sms {
		mean := func(p phase) time.Duration { return (p.wall / time.Duration(s.rounds)).Round(time.Millisecond) }
		fmt.Fprintf(out, "%-32s %12s %12s %12s\n", s.setup.name, mean(s.create), mean(s.stop), mean(s.del))
	}
	fmt.Fprintf(out, "\n%-32s %-46s %s\n", "CPU time per round (mean)", "create", "stop + delete")
	for _, s := range sms {
		fmt.Fprintf(out, "%-32s %-46s %s\n", s.setup.name, cpuPerRound(s.cpuCreate, s.rounds), cpuPerRound(s.cpuDelete, s.rounds))
	}
	fmt.Fprintf(out, "(%d CPUs on this machine, shared with whatever else runs: load average now %s)\n", runtime.NumCPU(), proc.LoadAvg())
}
