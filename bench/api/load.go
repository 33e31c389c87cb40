package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-io/berth/internal/xmlrpc"
)

// checker verifies every response of a workload without decoding each one in the timed
// loop (decoding a 100-VM page costs the client milliseconds of the 2 cores it shares
// with the server). Request i's response is first fully decoded and validated (not a
// fault, the right object); its hash is then recorded, and a later response is accepted
// when it hashes the same. A response that differs is decoded and validated again.
type checker struct {
	seed     maphash.Seed
	want     []atomic.Uint64 // hash of the last validated response of request i; 0 unknown
	validate func(i int, v any) error
	decoded  atomic.Int64 // full decodes
}

func newChecker(n int, validate func(i int, v any) error) *checker {
	return &checker{seed: maphash.MakeSeed(), want: make([]atomic.Uint64, n), validate: validate}
}

// expect makes body the expected response of every request.
func (c *checker) expect(body []byte) {
	h := c.hash(body)
	for i := range c.want {
		c.want[i].Store(h)
	}
}

// hash is the response hash; never 0, the "unknown" mark.
func (c *checker) hash(body []byte) uint64 { return maphash.Bytes(c.seed, body) | 1 }

// check verifies the response body of request i.
func (c *checker) check(i int, body []byte) error {
	h := c.hash(body)
	if c.want[i].Load() == h {
		return nil
	}
	c.decoded.Add(1)
	v, err := xmlrpc.DecodeResponse(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response of request %d (%d bytes): %w", i, len(body), err)
	}
	if err := c.validate(i, v); err != nil {
		return fmt.Errorf("response of request %d: %w", i, err)
	}
	c.want[i].Store(h)
	return nil
}

// workload is one call's set of requests: a phase sends them in random order.
type workload struct {
	call   string   // hosting.vm.info
	bodies [][]byte // encoded methodCalls
	check  *checker
	primed int64 // full decodes when priming ended
}

// sample is one call measured on one server, over one or more phases.
type sample struct {
	call, server string
	n            int             // requests completed in the measured windows
	elapsed      time.Duration   // measured windows
	lat          []time.Duration // latencies, sorted by finish
	bytes        int64           // response bytes in the windows
	dials        int64           // connections opened over the phases
	serverCPU    time.Duration   // CPU time of the server process in the windows; 0 unknown
	clientCPU    time.Duration   // CPU time of this process (the load generator) in the windows
	changed      int64           // responses that differed from the validated one of their request
}

// add merges another phase of the same call and server into s.
func (s *sample) add(t sample) {
	s.call, s.server = t.call, t.server
	s.n += t.n
	s.elapsed += t.elapsed
	s.lat = append(s.lat, t.lat...)
	s.bytes += t.bytes
	s.dials += t.dials
	s.serverCPU += t.serverCPU
	s.clientCPU += t.clientCPU
}

// finish sorts the latencies.
func (s *sample) finish() { slices.Sort(s.lat) }

// perRequest is a CPU time divided by the requests.
func (s sample) perRequest(d time.Duration) time.Duration {
	if s.n == 0 {
		return 0
	}
	return d / time.Duration(s.n)
}

// rate is requests per second.
func (s sample) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.n) / s.elapsed.Seconds()
}

// quantile returns the q-quantile of sorted latencies by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	r := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(r, 0), len(sorted)-1)]
}

// prime sends every request of w once from `clients` callers, fully decoding and
// validating each response, and returns the raw response of request 0.
func prime(ctx context.Context, url string, w *workload, clients int) ([]byte, error) {
	var (
		dials atomic.Int64
		next  atomic.Int64
		first []byte
		mu    sync.Mutex
	)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := newRPC(url, &dials)
			defer c.close()
			var buf bytes.Buffer
			for {
				i := int(next.Add(1) - 1)
				if i >= len(w.bodies) || ctx.Err() != nil {
					return
				}
				err := c.post(ctx, url, w.bodies[i], &buf)
				if err == nil {
					err = w.check.check(i, buf.Bytes())
				}
				if err != nil {
					cancel(fmt.Errorf("%s: %w", w.call, err))
					return
				}
				if i == 0 {
					mu.Lock()
					first = bytes.Clone(buf.Bytes())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return first, nil
}

// phase is one measured run of a workload against one server.
type phase struct {
	server   string // berthd or baseline
	url      string
	w        *workload
	clients  int
	warmup   time.Duration // requests sent but not measured
	duration time.Duration // measured window
	labels   bool          // mark client goroutines with the pprof label bench=client
	pid      int           // server process whose CPU time is measured; 0 none
}

// run sends requests from p.clients goroutines, each on its own keep-alive connection,
// for warmup+duration, and records the latency of every request started in the measured
// window. The first failed or wrong response stops the phase with an error.
func (p phase) run(ctx context.Context) (sample, error) {
	s := sample{call: p.w.call, server: p.server}
	var dials atomic.Int64
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	from, until := start.Add(p.warmup), start.Add(p.warmup+p.duration)
	type result struct {
		lat   []time.Duration
		bytes int64
	}
	results := make([]result, p.clients)
	var wg sync.WaitGroup
	cpu := make(chan [2]time.Duration, 1)
	go func() { // CPU times at the start and the end of the measured window
		var srv, cli [2]time.Duration
		for k, at := range []time.Time{from, until} {
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				cpu <- [2]time.Duration{}
				return
			}
			cli[k] = selfCPU()
			if p.pid != 0 {
				srv[k], _ = procCPU(p.pid)
			}
		}
		cpu <- [2]time.Duration{srv[1] - srv[0], cli[1] - cli[0]}
	}()
	for ci := range p.clients {
		wg.Go(func() {
			if p.labels {
				pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("bench", "client")))
			}
			c := newRPC(p.url, &dials)
			defer c.close()
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(ci)))
			var buf bytes.Buffer
			r := &results[ci]
			r.lat = make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				i := rng.IntN(len(p.w.bodies))
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				err := c.post(ctx, p.url, p.w.bodies[i], &buf)
				d := time.Since(t0)
				if err == nil {
					err = p.w.check.check(i, buf.Bytes())
				}
				if err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("%s on %s: %w", p.w.call, p.server, err))
					}
					return
				}
				if !t0.Before(from) {
					r.lat = append(r.lat, d)
					r.bytes += int64(buf.Len())
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return s, err
	}
	c := <-cpu
	s.serverCPU, s.clientCPU = c[0], c[1]
	s.elapsed = p.duration // the requests counted are those started in [from, until)
	for _, r := range results {
		s.lat = append(s.lat, r.lat...)
		s.bytes += r.bytes
	}
	s.n, s.dials = len(s.lat), dials.Load()
	if s.n == 0 {
		return s, errors.New("no request completed in the measured window")
	}
	return s, nil
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
