package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	benchstats "github.com/berth-io/berth/bench/internal/stats"
)

// stats are the median, min and max of samples.
type stats = benchstats.Stats

// summarize computes the stats of ds.
func summarize(ds []time.Duration) stats { return benchstats.Summarize(ds) }

// pick returns f of each sample.
func pick[T any](xs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// secs formats a duration in seconds with millisecond precision.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// verdict says whether a ratio meets the target.
func verdict(ratio float64) string {
	if ratio <= targetRatio {
		return "met"
	}
	return "MISSED"
}

// report prints the boot table, the ratio, and the memory updates.
func report(out io.Writer, o options, r *results) {
	fmt.Fprintf(out, "\nload average after: %s; %d CPUs\n", r.loadAfter, runtime.NumCPU())
	fmt.Fprintf(out, "\nbare runs: %s %s\n", r.bareExe, strings.Join(r.bareArgs, " "))
	fmt.Fprintln(out, "  = berthd's command line of its first VM, with fresh files (qcow2 overlay of the same image disk, seed ISO copy,")
	fmt.Fprintln(out, "    new QMP/console/pidfile paths) and the tap netdev (fd=N, only berthd holds it) replaced by")
	fmt.Fprintln(out, "    `-netdev user,id=...,restrict=on`: the same virtio-net-pci NIC and MAC, on a user-mode backend instead of a tap")

	fmt.Fprintf(out, "\nboot to BERTH-BOOTED: %s, %d MB, 1 vCPU; %d runs of each, alternating berth/bare (after %d warm-up pair(s))\n",
		imageLabel, vmMemoryMB, len(r.berth), o.warmup)
	fmt.Fprintln(out, "  berth: from the create_from call; exec: of its QEMU; up: the guest's uptime when its sshd came up; CPU: berthd's during the boot")
	fmt.Fprintln(out, "  bare: from QEMU's exec")
	fmt.Fprintf(out, "%-7s %10s %9s %9s %9s   %10s %9s   %s\n", "run", "berth", "exec", "up", "CPU", "bare", "up", "berth/bare")
	var pairs []float64
	for i := range r.berth {
		bs, bb := r.berth[i], r.bare[i]
		pr := bs.total.Seconds() / bb.total.Seconds()
		pairs = append(pairs, pr)
		fmt.Fprintf(out, "%-7d %10s %9s %9s %9s   %10s %9s   %.3f\n", i+1, secs(bs.total), secs(bs.exec), secs(bs.marker.Uptime),
			secs(bs.berthd), secs(bb.total), secs(bb.marker.Uptime), pr)
	}
	b := summarize(pick(r.berth, func(s bootSample) time.Duration { return s.total }))
	e := summarize(pick(r.berth, func(s bootSample) time.Duration { return s.exec }))
	bu := summarize(pick(r.berth, func(s bootSample) time.Duration { return s.marker.Uptime }))
	bc := summarize(pick(r.berth, func(s bootSample) time.Duration { return s.berthd }))
	g := summarize(pick(r.berth, func(s bootSample) time.Duration { return s.total - s.exec }))
	x := summarize(pick(r.bare, func(s bootSample) time.Duration { return s.total }))
	xu := summarize(pick(r.bare, func(s bootSample) time.Duration { return s.marker.Uptime }))
	pr := benchstats.Summarize(pairs)
	for _, row := range []struct {
		name string
		pick func(stats) time.Duration
		pair float64
	}{
		{"median", func(s stats) time.Duration { return s.Median }, pr.Median},
		{"min", func(s stats) time.Duration { return s.Min }, pr.Min},
		{"max", func(s stats) time.Duration { return s.Max }, pr.Max},
	} {
		fmt.Fprintf(out, "%-7s %10s %9s %9s %9s   %10s %9s   %.3f\n", row.name, secs(row.pick(b)), secs(row.pick(e)), secs(row.pick(bu)),
			secs(row.pick(bc)), secs(row.pick(x)), secs(row.pick(xu)), row.pair)
	}
	ratio := b.Median.Seconds() / x.Median.Seconds()
	fmt.Fprintf(out, "\nratio berth/bare of the medians: %.3f: Berth adds %+.1f %% (%s) to a bare QEMU boot\n",
		ratio, (ratio-1)*100, secs(b.Median-x.Median))
	fmt.Fprintf(out, "  median of the %d pairs' own ratios (each Berth boot against the bare boot right after it): %.3f;\n", len(pairs), pr.Median)
	fmt.Fprintln(out, "  when the two disagree much, the machine's load changed during the runs: look at min and max")
	fmt.Fprintf(out, "  berth's call → QEMU exec, median %s: the control plane (API, operations disk/iface/vm create, seed, tap)\n", secs(e.Median))
	fmt.Fprintf(out, "  berth's QEMU exec → booted, median %s, %.3f of bare: the guest's own boot under berthd\n",
		secs(g.Median), g.Median.Seconds()/x.Median.Seconds())
	if bu.Median > 0 && xu.Median > 0 {
		fmt.Fprintf(out, "  guest uptime at sshd up, median: berth %s, bare %s (%.3f): how fast the guest itself ran\n",
			secs(bu.Median), secs(xu.Median), bu.Median.Seconds()/xu.Median.Seconds())
	}
	fmt.Fprintf(out, "  berthd's CPU during a boot, median %s", secs(bc.Median))
	if o.idle > 0 {
		fmt.Fprintf(out, "; idle, berthd uses %.3f cores (%s over the median boot: its timers and queue polling)", r.idle,
			secs(time.Duration(r.idle*float64(b.Median))))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "target: Berth adds at most %.0f %% to a bare boot: %s (%.1f %%)\n", (targetRatio-1)*100, verdict(ratio), (ratio-1)*100)

	if len(r.mem) == 0 {
		return
	}
	fmt.Fprintf(out, "\nhot memory %d → %d MB (hosting.vm.update), %d runs, each on a fresh VM of the boot runs just after it booted;\n",
		vmMemoryMB, memTargetMB, len(r.mem))
	fmt.Fprintf(out, "the guest's MemTotal is read through the console socket until it has grown by %d MiB\n", memGrowthKiB/1024)
	fmt.Fprintf(out, "%-8s %-20s %-22s %-26s %s\n", "run", "guest sees it", "operation DONE", "MemTotal before → after", "console reads (mean)")
	for i, m := range r.mem {
		fmt.Fprintf(out, "%-8d %-20s %-22s %-26s %d (%s)\n", i+1, secs(m.guest), secs(m.op),
			fmt.Sprintf("%d → %d kB", m.before, m.after), m.polls, secs(m.pollTime/time.Duration(max(m.polls, 1))))
	}
	gs := summarize(pick(r.mem, func(m memSample) time.Duration { return m.guest }))
	ops := summarize(pick(r.mem, func(m memSample) time.Duration { return m.op }))
	fmt.Fprintf(out, "%-8s %-20s %-22s\n", "median", secs(gs.Median), secs(ops.Median))
	fmt.Fprintf(out, "%-8s %-20s %-22s\n", "min", secs(gs.Min), secs(ops.Min))
	fmt.Fprintf(out, "%-8s %-20s %-22s\n", "max", secs(gs.Max), secs(ops.Max))
	fmt.Fprintln(out, "(the guest latency is known to within one console read: it is when the read that saw the memory returned)")
}
