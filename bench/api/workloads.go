package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// The measured calls.
const (
	callInfo = "hosting.vm.info"
	callList = "hosting.vm.list"
	perPage  = 100
)

// encodeCall returns an encoded methodCall.
func encodeCall(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	if err := xmlrpc.EncodeCall(&b, method, params...); err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	return b.Bytes(), nil
}

// workloads builds the vm.list workload (every page of 100), primes it, which yields
// the ids of every VM, then builds and primes the vm.info workload (every VM). The
// vm.list load then asks for full pages only, when there is one. Priming
// sends each request once and fully checks its response; it also warms berthd up. It
// returns the workloads and a canned response of each call (that of its first request).
func workloads(ctx context.Context, url, key string, stored, clients int) ([]*workload, map[string][]byte, error) {
	pages := (stored + perPage - 1) / perPage
	list := &workload{call: callList}
	var (
		mu      sync.Mutex
		pageIDs = make([][]int64, pages)
	)
	for p := range pages {
		b, err := encodeCall(callList, key, map[string]any{"items_per_page": perPage, "page": p})
		if err != nil {
			return nil, nil, err
		}
		list.bodies = append(list.bodies, b)
	}
	list.check = newChecker(pages, func(page int, v any) error {
		want := min(perPage, stored-page*perPage)
		ids, err := listIDs(v, want)
		if err != nil {
			return err
		}
		mu.Lock()
		pageIDs[page] = ids
		mu.Unlock()
		return nil
	})
	canned := map[string][]byte{}
	var err error
	if canned[callList], err = prime(ctx, url, list, clients); err != nil {
		return nil, nil, err
	}
	var ids []int64
	seen := map[int64]bool{}
	for _, p := range pageIDs {
		for _, id := range p {
			if seen[id] {
				return nil, nil, fmt.Errorf("%s: vm %d on two pages", callList, id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) != stored {
		return nil, nil, fmt.Errorf("%s: %d vms over %d pages, want %d", callList, len(ids), pages, stored)
	}
	list.primed = list.check.decoded.Load()
	if full := stored / perPage; full > 0 && full < pages {
		list.bodies = list.bodies[:full] // the load asks for full pages only: the size of the canned one
	}
	info := &workload{call: callInfo}
	for _, id := range ids {
		b, err := encodeCall(callInfo, key, id)
		if err != nil {
			return nil, nil, err
		}
		info.bodies = append(info.bodies, b)
	}
	info.check = newChecker(len(ids), func(i int, v any) error { return checkInfo(v, ids[i]) })
	if canned[callInfo], err = prime(ctx, url, info, clients); err != nil {
		return nil, nil, err
	}
	info.primed = info.check.decoded.Load()
	return []*workload{info, list}, canned, nil
}

// listIDs checks a vm.list page (want VMs, each a struct with an id and a hostname) and
// returns its ids.
func listIDs(v any, want int) ([]int64, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("result is %s, want array", xmlrpc.TypeName(v))
	}
	if len(list) != want {
		return nil, fmt.Errorf("%d vms, want %d", len(list), want)
	}
	ids := make([]int64, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d is %s, want struct", i, xmlrpc.TypeName(x))
		}
		id, _ := m["id"].(int64)
		if h, _ := m["hostname"].(string); id <= 0 || h == "" {
			return nil, fmt.Errorf("item %d has no id or hostname", i)
		}
		ids[i] = id
	}
	return ids, nil
}

// checkInfo checks a vm.info result: VM id with a hostname, disks and ifaces.
func checkInfo(v any, id int64) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("result is %s, want struct", xmlrpc.TypeName(v))
	}
	if got, _ := m["id"].(int64); got != id {
		return fmt.Errorf("vm %v, want %d", m["id"], id)
	}
	if h, _ := m["hostname"].(string); h == "" {
		return fmt.Errorf("vm %d has no hostname", id)
	}
	for _, k := range []string{"disks", "ifaces"} {
		if l, _ := m[k].([]any); len(l) == 0 {
			return fmt.Errorf("vm %d has no %s", id, k)
		}
	}
	return nil
}

// baselineWorkload is w against the baseline: the same requests, whose responses must be
// the canned bytes.
func baselineWorkload(w *workload, canned []byte) *workload {
	c := newChecker(len(w.bodies), func(int, any) error { return errors.New("response differs from the canned bytes") })
	c.expect(canned)
	return &workload{call: w.call, bodies: w.bodies, check: c}
}

// us formats a duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// writeCanned writes the canned responses for the baseline process.
func writeCanned(dir string, canned map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for call, b := range canned {
		if err := os.WriteFile(cannedFile(dir, call), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// printTable prints one row per sample: berthd rows carry the ratio of their req/s to the
// baseline's of the same call.
func printTable(out io.Writer, samples []sample, canned map[string][]byte) {
	base := map[string]sample{}
	for _, s := range samples {
		if s.server == "baseline" {
			base[s.call] = s
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "call\tserver\treq/s\tp50\tp99\tmax\tratio\tsrv CPU/req\tCPU ratio\tsrv cores\tcli CPU/req\tbytes/resp\tconns\t")
	for _, s := range samples {
		ratio, cpuRatio, srvCPU, cores := "-", "-", "-", "-"
		if s.serverCPU > 0 {
			srvCPU = us(s.perRequest(s.serverCPU))
			cores = fmt.Sprintf("%.2f", s.serverCPU.Seconds()/s.elapsed.Seconds())
		}
		if r, ok := base[s.call]; ok && s.server != "baseline" {
			if r.rate() > 0 {
				ratio = fmt.Sprintf("%.3f", s.rate()/r.rate())
			}
			if r.serverCPU > 0 && s.serverCPU > 0 {
				cpuRatio = fmt.Sprintf("%.1f", float64(s.perRequest(s.serverCPU))/float64(r.perRequest(r.serverCPU)))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", s.call, s.server, s.rate(),
			ms(quantile(s.lat, 0.5)), ms(quantile(s.lat, 0.99)), ms(s.lat[len(s.lat)-1]), ratio,
			srvCPU, cpuRatio, cores, us(s.perRequest(s.clientCPU)), s.bytes/int64(s.n), s.dials)
	}
	tw.Flush()
	for _, s := range samples {
		if s.changed > 0 {
			fmt.Fprintf(out, "%s on %s: %d responses changed during the measure (decoded and validated again)\n", s.call, s.server, s.changed)
		}
	}
	fmt.Fprintf(out, "canned responses: %s %d bytes, %s %d bytes\n", callInfo, len(canned[callInfo]), callList, len(canned[callList]))
}
