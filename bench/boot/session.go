package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/berth-io/berth/bench/internal/proc"
	"github.com/berth-io/berth/bench/internal/qemubench"
)

// session is one run of the bench: berthd, its client, and what the runs share.
type session struct {
	o       options
	b       *berthd
	c       *rpc
	key     string
	disk    int64 // the image's source disk
	dc      int64 // its datacenter
	bareDir string
	out     io.Writer
	tmpl    *template // the bare runs' command line, from the first Berth run
	vms     int       // VMs created, for their hostnames
}

// bootSample is one timed boot.
type bootSample struct {
	total  time.Duration // Berth: create_from call → BERTH-BOOTED; bare: exec → BERTH-BOOTED
	exec   time.Duration // Berth only: call → QEMU exec
	berthd time.Duration // Berth only: CPU time berthd used from the call to BERTH-BOOTED
	marker bootMarker
}

// memSample is one timed memory update.
type memSample struct {
	before, after int64         // guest MemTotal, kB
	guest         time.Duration // vm.update call → the guest sees the memory
	op            time.Duration // vm.update call → its operation DONE
	polls         int           // MemTotal reads after the call
	pollTime      time.Duration // their total time
}

// results are what the report shows.
type results struct {
	berth, bare           []bootSample
	mem                   []memSample
	loadBefore, loadAfter string
	bareArgs              []string // the bare runs' QEMU command line (of run 1)
	bareExe               string
	idle                  float64 // berthd's CPU with no VM and no call, in cores
}

// measure runs the warm-up pairs, then the measured pairs, printing each run.
func (s *session) measure(ctx context.Context) (*results, error) {
	res := &results{loadBefore: proc.LoadAvg()}
	fmt.Fprintf(s.out, "load average before: %s\n", res.loadBefore)
	for i := range s.o.warmup + s.o.runs {
		warm := i < s.o.warmup
		n := i - s.o.warmup + 1
		label := fmt.Sprintf("run %2d", n)
		if warm {
			label = fmt.Sprintf("warm-up %d", i+1)
		}
		bs, ms, err := s.berthRun(ctx, !warm && n <= s.o.memRuns)
		if err != nil {
			return nil, fmt.Errorf("berth %s: %w", label, err)
		}
		line := fmt.Sprintf("%-9s berth  %s (call → QEMU exec %s, guest up %s, berthd CPU %s)",
			label, secs(bs.total), secs(bs.exec), secs(bs.marker.Uptime), secs(bs.berthd))
		if ms != nil {
			line += fmt.Sprintf("; memory 256 → 768 MB seen by the guest after %s (operation DONE after %s)", secs(ms.guest), secs(ms.op))
			res.mem = append(res.mem, *ms)
		}
		fmt.Fprintln(s.out, line)
		args, bb, err := s.bareRun(ctx, i+1)
		if err != nil {
			return nil, fmt.Errorf("bare %s: %w", label, err)
		}
		if bb.marker.MemKB != bs.marker.MemKB || bb.marker.CPUs != bs.marker.CPUs {
			return nil, fmt.Errorf("bare %s: the guest booted with mem_kb=%d cpus=%d, under berthd mem_kb=%d cpus=%d: not the same machine",
				label, bb.marker.MemKB, bb.marker.CPUs, bs.marker.MemKB, bs.marker.CPUs)
		}
		fmt.Fprintf(s.out, "%-9s bare   %s (guest up %s)\n", label, secs(bb.total), secs(bb.marker.Uptime))
		if warm {
			continue
		}
		if res.bareArgs == nil {
			res.bareArgs, res.bareExe = args, s.tmpl.exe
		}
		res.berth = append(res.berth, bs)
		res.bare = append(res.bare, bb)
	}
	res.loadAfter = proc.LoadAvg()
	return res, nil
}

// berthRun creates a VM through berthd and times its boot; the first one's QEMU command
// line becomes the bare runs' template. With mem, it then times a memory update. It stops
// and deletes the VM (untimed) before returning.
func (s *session) berthRun(ctx context.Context, mem bool) (bootSample, *memSample, error) {
	var bs bootSample
	s.vms++
	spec := map[string]any{"datacenter_id": s.dc, "hostname": fmt.Sprintf("boot%02d", s.vms), "memory": vmMemoryMB, "cores": 1, "ip_version": 4}
	cpu0, err := procCPU(s.b.pid())
	if err != nil {
		return bs, nil, fmt.Errorf("berthd: %w", err)
	}
	t0 := time.Now()
	v, err := s.c.call(ctx, "hosting.vm.create_from", s.key, spec, map[string]any{}, s.disk)
	if err != nil {
		return bs, nil, err
	}
	list, _ := v.([]any)
	var ops []int64
	var vmID int64
	for _, x := range list {
		id, err := opID(x)
		if err != nil {
			return bs, nil, err
		}
		ops = append(ops, id)
		if op, _ := x.(map[string]any); op["type"] == "vm_create" {
			vmID, _ = op["vm_id"].(int64)
		}
	}
	if vmID == 0 {
		return bs, nil, fmt.Errorf("hosting.vm.create_from returned no vm_create operation with a vm_id: %v", v)
	}
	dir := s.b.vmDir(vmID)
	pid := 0
	var execAt time.Time
	lastCheck := time.Now()
	tick := func() error {
		if pid == 0 {
			if p, err := readPid(filepath.Join(dir, "qemu.pid")); err == nil {
				if execAt, err = procStart(p); err != nil {
					return fmt.Errorf("start time of QEMU %d: %w", p, err)
				}
				pid = p
			}
		}
		// Look for failed operations often until QEMU runs, then seldom: the guest boots
		// on a busy machine with no more of the bench's calls than needed.
		every := 500 * time.Millisecond
		if pid != 0 {
			every = 5 * time.Second
		}
		if time.Since(lastCheck) < every {
			return nil
		}
		lastCheck = time.Now()
		return s.failedOp(ctx, ops)
	}
	at, m, err := waitBoot(ctx, filepath.Join(dir, "console.log"), s.o.bootTimeout, tick)
	if err != nil {
		return bs, nil, fmt.Errorf("vm %d: %w", vmID, err)
	}
	if pid == 0 {
		return bs, nil, fmt.Errorf("vm %d booted but wrote no readable qemu.pid", vmID)
	}
	cpu1, err := procCPU(s.b.pid())
	if err != nil {
		return bs, nil, fmt.Errorf("berthd: %w", err)
	}
	bs = bootSample{total: at.Sub(t0), exec: execAt.Sub(t0), berthd: cpu1 - cpu0, marker: m}
	for _, id := range ops {
		if err := s.c.waitOp(ctx, s.key, id, time.Minute); err != nil {
			return bs, nil, err
		}
	}
	if s.tmpl == nil {
		if s.tmpl, err = capture(pid, dir, s.b.data, filepath.Join(s.bareDir, "template")); err != nil {
			return bs, nil, err
		}
	}
	var ms *memSample
	if mem {
		if ms, err = s.memRun(ctx, vmID, dir); err != nil {
			return bs, nil, fmt.Errorf("vm %d: memory update: %w", vmID, err)
		}
	}
	if s.o.keep {
		// vm.delete removes the run directory: keep the console log for a look at the guest.
		if err := qemubench.CopyFile(filepath.Join(dir, "console.log"), filepath.Join(s.bareDir, fmt.Sprintf("berth-vm%d-console.log", vmID))); err != nil {
			return bs, ms, err
		}
	}
	return bs, ms, s.remove(ctx, vmID, pid)
}

// failedOp reports the first of ops that ended in ERROR or CANCEL.
func (s *session) failedOp(ctx context.Context, ops []int64) error {
	for _, id := range ops {
		v, err := s.c.call(ctx, "operation.info", s.key, id)
		if err != nil {
			return err
		}
		op, _ := v.(map[string]any)
		if st := op["step"]; st == "ERROR" || st == "CANCEL" || st == "SUPPORT" {
			return fmt.Errorf("operation %d (%v): %v: %v", id, op["type"], st, op["last_error"])
		}
	}
	return nil
}

// remove stops and deletes a VM and waits for its QEMU to be gone.
func (s *session) remove(ctx context.Context, vmID int64, pid int) error {
	for _, m := range []string{"hosting.vm.stop", "hosting.vm.delete"} {
		v, err := s.c.call(ctx, m, s.key, vmID)
		if err != nil {
			return err
		}
		id, err := opID(v)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if err := s.c.waitOp(ctx, s.key, id, 2*time.Minute); err != nil {
			return fmt.Errorf("%s vm %d: %w", m, vmID, err)
		}
	}
	return waitGone(pid, 30*time.Second)
}

// memRun times hosting.vm.update {memory: 768} on a booted 256 MB VM: from the call until
// the guest's MemTotal, read through the console again and again, has grown by
// memGrowthKiB; and, polled alongside, until the operation is DONE.
func (s *session) memRun(ctx context.Context, vmID int64, dir string) (*memSample, error) {
	con, err := dialConsole(filepath.Join(dir, "console.sock"))
	if err != nil {
		return nil, err
	}
	defer con.close()
	if err := con.ready(time.Minute); err != nil {
		return nil, err
	}
	ms := &memSample{}
	if ms.before, err = con.memTotal(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	v, err := s.c.call(ctx, "hosting.vm.update", s.key, vmID, map[string]any{"memory": memTargetMB})
	if err != nil {
		return nil, err
	}
	id, err := opID(v)
	if err != nil {
		return nil, err
	}
	type opResult struct {
		at  time.Time
		err error
	}
	opDone := make(chan opResult, 1)
	go func() {
		// Same 20 ms poll as waitOp, timed on this side.
		err := s.c.waitOp(ctx, s.key, id, 2*time.Minute)
		opDone <- opResult{time.Now(), err}
	}()
	for {
		p0 := time.Now()
		mt, err := con.memTotal()
		if err != nil {
			return nil, err
		}
		ms.polls++
		ms.pollTime += time.Since(p0)
		if mt-ms.before >= memGrowthKiB {
			ms.guest, ms.after = time.Since(t0), mt
			break
		}
		select {
		case r := <-opDone:
			if r.err != nil {
				return nil, r.err
			}
			opDone <- r // keep it for below
		default:
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("guest MemTotal still %d kB (was %d kB) after %s", mt, ms.before, time.Since(t0).Round(time.Millisecond))
		}
	}
	select {
	case r := <-opDone:
		if r.err != nil {
			return nil, r.err
		}
		ms.op = r.at.Sub(t0)
	case <-ctx.Done():
		return nil, errors.New("the guest saw the memory but its operation did not finish")
	}
	return ms, nil
}
