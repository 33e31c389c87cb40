package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	benchstats "github.com/berth-io/berth/bench/internal/stats"
)

// Goals of issue 11 for the Tiny guest.
const (
	goalTotalRatio = 1.2                    // Berth's total at most 1.2× the bare recipe's
	goalDowntime   = 300 * time.Millisecond // longest ping gap through Berth
)

// sample is one live migration.
type sample struct {
	from, to string
	// total: Berth, from the `berthd admin vm move` call to its operation seen DONE;
	// bare, from the start of the target's preparation to the guest running there.
	total time.Duration
	// running: from the same start to the guest running on the target (Berth: the
	// target agent's "incoming migration finished" log line).
	running time.Duration
	// submit: Berth only, the admin command's own run (start, store, submit).
	submit       time.Duration
	gap          gap           // the ping's longest silence: the downtime users see
	qemuTotal    time.Duration // QEMU's query-migrate total-time on the source
	qemuDowntime time.Duration // QEMU's query-migrate downtime
	cleanup      time.Duration // bare only: the source's quit and removal, after total
	// milestones: when each step of the recipe ended, from the same start (Berth: the
	// agents' log lines; 0 when not found).
	milestones [len(milestoneNames)]time.Duration
}

// milestoneNames are the steps both sides go through, in order.
var milestoneNames = [...]string{"target ready", "disk in sync", "switched over", "running"}

// milestoneLine describes the milestones of samples: their medians.
func milestoneLine(xs []sample) string {
	var parts []string
	for i, name := range milestoneNames {
		st := summarize(nonZero(pick(xs, func(s sample) time.Duration { return s.milestones[i] })))
		parts = append(parts, fmt.Sprintf("%s %s", name, ms(st.Median)))
	}
	return strings.Join(parts, ", ")
}

// nonZero drops the zero durations (a number not found).
func nonZero(ds []time.Duration) []time.Duration {
	return slices.DeleteFunc(slices.Clone(ds), func(d time.Duration) bool { return d == 0 })
}

// results are what the report shows.
type results struct {
	berth, bare           []sample
	loadBefore, loadAfter string
	bareCmd               string // the bare QEMU command line (of the first source)
	pingFrom              string // where the pings come from, for the report
	bareFrom              string
	warmup                int // unmeasured pairs first
}

// stats are the median, min and max of samples.
type stats = benchstats.Stats

// summarize computes the stats of ds.
func summarize(ds []time.Duration) stats { return benchstats.Summarize(ds) }

// pick returns f of each sample.
func pick(xs []sample, f func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// ratio is a/b, 0 when b is 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// verdict says whether a goal is met.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// runLine is the line printed after each migration.
func runLine(label, kind string, s sample) string {
	line := fmt.Sprintf("%-9s %-5s %s → %s: total %s, running after %s, downtime (ping gap) %s, %d echoes lost; QEMU: total %s, downtime %s",
		label, kind, s.from, s.to, ms(s.total), ms(s.running), ms(s.gap.longest), s.gap.lost, ms(s.qemuTotal), ms(s.qemuDowntime))
	var steps []string
	for i, name := range milestoneNames {
		steps = append(steps, fmt.Sprintf("%s %s", name, ms(s.milestones[i])))
	}
	line += "\n                steps ended after: " + strings.Join(steps, ", ")
	if s.submit > 0 {
		line += fmt.Sprintf("; admin command %s", ms(s.submit))
	}
	if s.cleanup > 0 {
		line += fmt.Sprintf("; source removed %s later", ms(s.cleanup))
	}
	return line
}

// report prints the table of runs, the medians, the ratios and the goals.
func report(out io.Writer, r *results) {
	fmt.Fprintf(out, "\nload average before: %s, after: %s; %d CPUs\n", r.loadBefore, r.loadAfter, runtime.NumCPU())
	fmt.Fprintf(out, "pings every %s: Berth from %s; bare from %s\n", pingEvery, r.pingFrom, r.bareFrom)
	fmt.Fprintf(out, "bare QEMU: %s\n", r.bareCmd)
	fmt.Fprintf(out, "\nlive migration of a Berth Tiny guest (256 MB, 1 vCPU, qcow2 overlay mirrored over NBD): %d runs of each, alternating berth/bare, after %d warm-up pair(s)\n",
		len(r.berth), r.warmup)
	fmt.Fprintln(out, "  total: berth = `berthd admin vm move` call → vm_move DONE (polled every 20 ms); bare = target QEMU start → `cont` on the target")
	fmt.Fprintln(out, "  running: from the same start to the guest running on the target; gap: the longest time between two ping replies")
	fmt.Fprintf(out, "%-6s %10s %10s %10s %10s %10s   %10s %10s %10s %10s %10s   %6s %6s\n", "run",
		"berth", "running", "gap", "qemu tot", "qemu down", "bare", "running", "gap", "qemu tot", "qemu down", "total×", "gap×")
	row := func(name string, b, x [5]time.Duration, tr, gr float64) {
		fmt.Fprintf(out, "%-6s %10s %10s %10s %10s %10s   %10s %10s %10s %10s %10s   %6.2f %6.2f\n", name,
			ms(b[0]), ms(b[1]), ms(b[2]), ms(b[3]), ms(b[4]), ms(x[0]), ms(x[1]), ms(x[2]), ms(x[3]), ms(x[4]), tr, gr)
	}
	cols := func(s sample) [5]time.Duration {
		return [5]time.Duration{s.total, s.running, s.gap.longest, s.qemuTotal, s.qemuDowntime}
	}
	for i := range r.berth {
		b, x := r.berth[i], r.bare[i]
		row(fmt.Sprint(i+1), cols(b), cols(x), ratio(b.total, x.total), ratio(b.gap.longest, x.gap.longest))
	}
	fields := []func(sample) time.Duration{
		func(s sample) time.Duration { return s.total },
		func(s sample) time.Duration { return s.running },
		func(s sample) time.Duration { return s.gap.longest },
		func(s sample) time.Duration { return s.qemuTotal },
		func(s sample) time.Duration { return s.qemuDowntime },
	}
	var bs, xs [5]stats
	for i, f := range fields {
		// A number not found in a log is left out, not counted as 0.
		bs[i], xs[i] = summarize(nonZero(pick(r.berth, f))), summarize(nonZero(pick(r.bare, f)))
	}
	for _, st := range []struct {
		name string
		get  func(stats) time.Duration
	}{
		{"median", func(s stats) time.Duration { return s.Median }},
		{"min", func(s stats) time.Duration { return s.Min }},
		{"max", func(s stats) time.Duration { return s.Max }},
	} {
		var b, x [5]time.Duration
		for i := range fields {
			b[i], x[i] = st.get(bs[i]), st.get(xs[i])
		}
		row(st.name, b, x, ratio(b[0], x[0]), ratio(b[2], x[2]))
	}
	tr, gr := ratio(bs[0].Median, xs[0].Median), ratio(bs[2].Median, xs[2].Median)
	fmt.Fprintf(out, "\nratio berth/bare of the medians: total %.2f (%+.0f ms), downtime (ping gap) %.2f (%+.0f ms)\n",
		tr, float64(bs[0].Median-xs[0].Median)/1e6, gr, float64(bs[2].Median-xs[2].Median)/1e6)
	fmt.Fprintf(out, "  to the guest running on the target: %.2f (%+.0f ms); QEMU's own downtime %.2f\n",
		ratio(bs[1].Median, xs[1].Median), float64(bs[1].Median-xs[1].Median)/1e6, ratio(bs[4].Median, xs[4].Median))
	if sub := summarize(pick(r.berth, func(s sample) time.Duration { return s.submit })); sub.Median > 0 {
		fmt.Fprintf(out, "  berth: the admin command itself (process start, store, submit) took %s (median) of the total;\n", ms(sub.Median))
		fmt.Fprintf(out, "  the guest ran on the target %s (median) before the operation was seen DONE (source cleanup, queue hops)\n",
			ms(summarize(pick(r.berth, func(s sample) time.Duration { return s.total - s.running })).Median))
	}
	fmt.Fprintf(out, "steps ended after (medians): berth %s\n", milestoneLine(r.berth))
	fmt.Fprintf(out, "                             bare  %s\n", milestoneLine(r.bare))
	fmt.Fprintf(out, "goal: total at most %.1f× bare: %s (%.2f)\n", goalTotalRatio, verdict(tr <= goalTotalRatio), tr)
	fmt.Fprintf(out, "goal: downtime under %s through Berth: %s (median %s, max %s)\n", ms(goalDowntime),
		verdict(bs[2].Median < goalDowntime), ms(bs[2].Median), ms(bs[2].Max))
}
