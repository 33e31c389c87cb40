package main

import (
	"context"
	"fmt"
	"github.com/berth-io/berth/client"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// rpc is an XML-RPC client on one keep-alive connection.
type rpc struct{ c *client.Client }

func newRPC(url string) *rpc {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
	}
	c := client.New(url, "")
	c.HTTP = &http.Client{Transport: tr, Timeout: time.Minute}
	return &rpc{c: c}
}

// close drops the idle connection.
func (c *rpc) close() { c.c.HTTP.CloseIdleConnections() }

// call makes one XML-RPC call and decodes its result; a fault is an error.
func (c *rpc) call(ctx context.Context, method string, params ...any) (any, error) {
	v, err := c.c.CallRaw(ctx, method, params...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// callInt is call for methods returning an int (the *.count methods).
func (c *rpc) callInt(ctx context.Context, method string, params ...any) (int64, error) {
	v, err := c.call(ctx, method, params...)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s returned %s, want int", method, xmlrpc.TypeName(v))
	}
	return n, nil
}

// phase is one timed step of the workload.
type phase struct {
	name      string
	calls     int             // API calls made
	ops       int             // operations they queued
	callsDone time.Duration   // first call → last call answered
	wall      time.Duration   // first call → no operation pending
	lat       []time.Duration // latency of each call
	cpu       map[string]time.Duration
	// sample, when set, returns the CPU time used so far by each process; cpu is what
	// each group of processes used during the phase.
	sample func() map[int]cpuSample
}

// cpuLine describes the CPU time of the process groups during a phase.
func (p *phase) cpuLine() string {
	var parts []string
	for _, g := range []string{"berthd", "agents", "postgres"} {
		if d, ok := p.cpu[g]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f s", g, d.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

// load is what the workload measured.
type load struct {
	create, stop, del phase
}

// workload creates o.vms VMs, then stops and deletes them all, timing each phase.
func workload(ctx context.Context, o options, url, key string, sample func() map[int]cpuSample, out io.Writer) (load, error) {
	var l load
	c := newRPC(url)
	defer c.close()
	dc, disk, err := source(ctx, c, key)
	if err != nil {
		return l, err
	}
	vms := make([]int64, o.vms)
	l.create = phase{name: "create", calls: o.vms, ops: 3 * o.vms, sample: sample}
	err = l.create.run(ctx, o, url, c, key, func(ctx context.Context, cl *rpc, i int) error {
		spec := map[string]any{"datacenter_id": dc, "hostname": fmt.Sprintf("scale%05d", i), "memory": 256, "cores": 1, "ip_version": 4}
		v, err := cl.call(ctx, "hosting.vm.create_from", key, spec, map[string]any{}, disk)
		if err != nil {
			return err
		}
		list, _ := v.([]any)
		for _, x := range list {
			if op, _ := x.(map[string]any); op["type"] == "vm_create" {
				vms[i], _ = op["vm_id"].(int64)
			}
		}
		if len(list) != 3 || vms[i] == 0 {
			return fmt.Errorf("hosting.vm.create_from returned %v, want 3 operations with a vm_create", v)
		}
		return nil
	})
	if err != nil {
		return l, err
	}
	fmt.Fprintf(out, "  created %d VMs: calls answered after %s, all %d operations done after %s; CPU: %s\n",
		o.vms, l.create.callsDone.Round(time.Millisecond), l.create.ops, l.create.wall.Round(time.Millisecond), l.create.cpuLine())
	if err := expectVMs(ctx, c, key, "running", o.vms); err != nil {
		return l, err
	}
	for _, p := range []struct {
		ph     *phase
		method string
	}{{&l.stop, "hosting.vm.stop"}, {&l.del, "hosting.vm.delete"}} {
		*p.ph = phase{name: p.method, calls: o.vms, ops: o.vms, sample: sample}
		err := p.ph.run(ctx, o, url, c, key, func(ctx context.Context, cl *rpc, i int) error {
			_, err := cl.call(ctx, p.method, key, vms[i])
			return err
		})
		if err != nil {
			return l, err
		}
		fmt.Fprintf(out, "  %s: calls answered after %s, all %d operations done after %s; CPU: %s\n",
			p.method, p.ph.callsDone.Round(time.Millisecond), p.ph.ops, p.ph.wall.Round(time.Millisecond), p.ph.cpuLine())
		if p.method == "hosting.vm.stop" {
			if err := expectVMs(ctx, c, key, "halted", o.vms); err != nil {
				return l, err
			}
		}
	}
	return l, expectVMs(ctx, c, key, "", 0)
}

// source returns the id of the bench's datacenter and the source disk of the Berth Tiny
// image there.
func source(ctx context.Context, c *rpc, key string) (dc, disk int64, err error) {
	v, err := c.call(ctx, "hosting.datacenter.list", key)
	if err != nil {
		return 0, 0, err
	}
	list, _ := v.([]any)
	for _, x := range list {
		if d, _ := x.(map[string]any); d["dc_code"] == datacenter {
			dc, _ = d["id"].(int64)
		}
	}
	if dc == 0 {
		return 0, 0, fmt.Errorf("no datacenter %s", datacenter)
	}
	v, err = c.call(ctx, "hosting.image.list", key, map[string]any{"datacenter_id": dc})
	if err != nil {
		return 0, 0, err
	}
	list, _ = v.([]any)
	for _, x := range list {
		if im, _ := x.(map[string]any); im["label"] == "Berth Tiny" {
			disk, _ = im["disk_id"].(int64)
		}
	}
	if disk == 0 {
		return 0, 0, fmt.Errorf("no Berth Tiny image in %s", datacenter)
	}
	return dc, disk, nil
}

// run makes p.calls calls of f (f(i) for i in 0..calls-1) from o.clients concurrent
// clients, then waits until no operation of the account is pending, and checks that none
// failed.
func (p *phase) run(ctx context.Context, o options, url string, c *rpc, key string, f func(ctx context.Context, c *rpc, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range p.calls {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	lat := make([][]time.Duration, o.clients)
	var cpu0 map[int]cpuSample
	if p.sample != nil {
		cpu0 = p.sample()
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := range o.clients {
		wg.Go(func() {
			cl := newRPC(url)
			defer cl.close()
			for i := range next {
				s := time.Now()
				if err := f(ctx, cl, i); err != nil {
					cancel(fmt.Errorf("%s %d: %w", p.name, i, err))
					return
				}
				lat[w] = append(lat[w], time.Since(s))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	p.callsDone = time.Since(t0)
	for _, l := range lat {
		p.lat = append(p.lat, l...)
	}
	end, err := waitIdle(ctx, c, key, o.timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.wall = end.Sub(t0)
	if p.sample != nil {
		p.cpu = cpuUsed(cpu0, p.sample())
	}
	for _, step := range []string{"ERROR", "CANCEL"} {
		n, err := c.callInt(ctx, "operation.count", key, map[string]any{"step": step})
		if err != nil {
			return err
		}
		if n > 0 {
			v, _ := c.call(ctx, "operation.list", key, map[string]any{"step": step, "items_per_page": 1})
			return fmt.Errorf("%s: %d operations in %s, e.g. %v", p.name, n, step, v)
		}
	}
	return nil
}

// waitIdle polls operation.count every 10 ms until no operation of the account is pending
// and returns when it saw that.
func waitIdle(ctx context.Context, c *rpc, key string, timeout time.Duration) (time.Time, error) {
	pending := map[string]any{"step": []any{"BILL", "WAIT", "RUN"}}
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.callInt(ctx, "operation.count", key, pending)
		if err != nil {
			return time.Time{}, err
		}
		if n == 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d operations still pending after %s", n, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// expectVMs checks that the account has want VMs in state (any state when empty).
func expectVMs(ctx context.Context, c *rpc, key, state string, want int) error {
	opts := map[string]any{}
	if state != "" {
		opts["state"] = state
	}
	n, err := c.callInt(ctx, "hosting.vm.count", key, opts)
	if err != nil {
		return err
	}
	if n != int64(want) {
		return fmt.Errorf("hosting.vm.count %v = %d, want %d", opts, n, want)
	}
	return nil
}
