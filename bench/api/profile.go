package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/server"
)

// runProfile is the -profile mode: berthd's daemon (internal/server, as `berthd serve`
// wires it) runs inside this process on the seeded data directory, and the berthd phases
// run under the CPU profiler. The load generator's goroutines carry the pprof label
// bench=client, so `go tool pprof -tagignore bench=client` shows berthd's side alone.
func runProfile(ctx context.Context, o options, dir, cfgPath, key string, sd seeding, out io.Writer) (err error) {
	cfg := config.Default()
	if err := cfg.Load(cfgPath); err != nil {
		return err
	}
	cfg.DataDir, cfg.Backend, cfg.Listen, cfg.LogLevel = dir, "sim", "127.0.0.1:0", "warn"
	if err := cfg.Validate(); err != nil {
		return err
	}
	logf, err := os.OpenFile(dir+"/berthd-inprocess.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := server.New(ctx, cfg, log, server.Options{Role: server.RoleAll}) // as `berthd serve`
	if err != nil {
		return err
	}
	addr, err := d.Start(ctx)
	if err != nil {
		_ = d.Stop(context.Background())
		return err
	}
	defer func() {
		if e := d.Stop(context.Background()); err == nil {
			err = e
		}
	}()
	url := "http://" + addr + "/xmlrpc/"
	works, canned, err := workloads(ctx, url, key, sd.stored, o.clients)
	if err != nil {
		return err
	}
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	defer runtime.SetMutexProfileFraction(0)
	defer runtime.SetBlockProfileRate(0)
	var samples []sample
	for _, w := range works {
		fmt.Fprintf(out, "measuring %s on berthd in-process, profiled...\n", w.call)
		p := phase{server: "berthd-inproc", url: url, w: w, clients: o.clients, warmup: o.warmup, duration: o.duration, labels: true}
		s, err := profiled(ctx, profileFile(o.profile, w.call), p)
		if err != nil {
			return err
		}
		samples = append(samples, s)
	}
	runtime.GC()
	for _, name := range []string{"heap", "mutex", "block"} {
		if err := writeProfile(name, o.profile+"."+name); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nin-process and profiled: not comparable with the targets, for finding costs only;")
	fmt.Fprintln(out, "cli CPU/req is the whole process here: berthd and the load generator")
	printTable(out, samples, canned)
	fmt.Fprintf(out, "\nCPU profiles: %s, %s; heap, mutex and block profiles (both calls): %s.heap, .mutex, .block\n",
		profileFile(o.profile, callInfo), profileFile(o.profile, callList), o.profile)
	fmt.Fprintf(out, "read berthd's side with: go tool pprof -tagignore bench=client -top %s\n", profileFile(o.profile, callInfo))
	return nil
}

// writeProfile writes a runtime profile to file.
func writeProfile(name, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s profile: %w", name, err)
	}
	return f.Close()
}

// profileFile is the CPU profile of one call: FILE.hosting.vm.info.
func profileFile(file, call string) string { return file + "." + call }

// profiled runs one phase under the CPU profiler, writing the profile to file.
func profiled(ctx context.Context, file string, p phase) (sample, error) {
	f, err := os.Create(file)
	if err != nil {
		return sample{}, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return sample{}, err
	}
	s, err := p.run(ctx)
	pprof.StopCPUProfile()
	s.finish()
	return s, err
}
