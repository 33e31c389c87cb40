package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The REST side of the bench: GET /v1/vms/{id} on berthd beside its own bare-replay
// baseline (a net/http server answering the canned bytes of a real berthd response), in
// alternating rounds like the XML-RPC calls, and the ratio of the two.

const (
	callRESTInfo    = "GET /v1/vms/{id}"
	restBaselineEnv = "BERTH_BENCH_API_REST_BASELINE"
)

func init() {
	if f := os.Getenv(restBaselineEnv); f != "" {
		if err := serveRESTBaseline(f); err != nil {
			fmt.Fprintln(os.Stderr, "rest baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// serveRESTBaseline answers every GET with the canned JSON in file, with berthd's headers,
// until SIGTERM or the end of stdin.
func serveRESTBaseline(file string) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.Header.Get("Authorization")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		})}
	fmt.Printf("baseline: listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startRESTBaseline runs this program as the REST baseline of the canned file.
func startRESTBaseline(ctx context.Context, file string) (*baseline, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), restBaselineEnv+"="+file)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &baseline{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "baseline: listening on "); ok {
				addr <- a
			}
		}
		b.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		b.url = "http://" + a
		return b, nil
	case err := <-b.done:
		return nil, fmt.Errorf("rest baseline exited before serving: %w", err)
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-b.done
	return nil, errors.New("rest baseline did not serve within 30s")
}

// restGet fetches url with the key and returns the body; anything but 200 is an error.
func restGet(ctx context.Context, hc *http.Client, url, key string, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: http %d: %.200s", url, resp.StatusCode, buf.Bytes())
	}
	return nil
}

// restVMIDs lists every VM id through GET /v1/vms.
func restVMIDs(ctx context.Context, base, key string) ([]int64, error) {
	hc := &http.Client{}
	var ids []int64
	var buf bytes.Buffer
	for page := 1; ; page++ {
		if err := restGet(ctx, hc, fmt.Sprintf("%s/v1/vms?per_page=500&page=%d", base, page), key, &buf); err != nil {
			return nil, err
		}
		var r struct {
			VMs  []struct{ ID int64 } `json:"vms"`
			Meta struct {
				Pagination struct {
					NextPage *int64 `json:"next_page"`
				} `json:"pagination"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
			return nil, err
		}
		for _, v := range r.VMs {
			ids = append(ids, v.ID)
		}
		if r.Meta.Pagination.NextPage == nil {
			return ids, nil
		}
	}
}

// restPhase loads GET base/v1/vms/{id} for random ids from clients keep-alive connections
// for warmup+d; check validates each body.
func restPhase(ctx context.Context, server, base, key string, ids []int64, clients int, warmup, d time.Duration, pid int, check func(id int64, body []byte) error) (sample, error) {
	s := sample{call: callRESTInfo, server: server}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var cpu0, cpu1 time.Duration
	go func() {
		time.Sleep(time.Until(from))
		c, _ := procCPU(pid)
		mu.Lock()
		cpu0 = c
		mu.Unlock()
	}()
	for ci := range clients {
		wg.Go(func() {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer hc.CloseIdleConnections()
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(ci)))
			var buf bytes.Buffer
			var lat []time.Duration
			var n int64
			for ctx.Err() == nil {
				id := ids[rng.IntN(len(ids))]
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				err := restGet(ctx, hc, base+"/v1/vms/"+strconv.FormatInt(id, 10), key, &buf)
				dt := time.Since(t0)
				if err == nil {
					err = check(id, buf.Bytes())
				}
				if err != nil {
					cancel(fmt.Errorf("%s on %s: %w", callRESTInfo, server, err))
					return
				}
				if !t0.Before(from) {
					lat = append(lat, dt)
					n += int64(buf.Len())
				}
			}
			mu.Lock()
			s.lat = append(s.lat, lat...)
			s.bytes += n
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu1, _ = procCPU(pid)
	if err := context.Cause(ctx); err != nil {
		return s, err
	}
	mu.Lock()
	s.serverCPU = cpu1 - cpu0
	mu.Unlock()
	s.elapsed, s.n = d, len(s.lat)
	if s.n == 0 {
		return s, errors.New("no REST request completed in the measured window")
	}
	return s, nil
}

// measureREST measures GET /v1/vms/{id} on berthd and on its baseline, and prints both
// and their ratio.
func measureREST(ctx context.Context, o options, b *berthd, key, dir string, out io.Writer) (err error) {
	base := strings.TrimSuffix(strings.TrimSuffix(b.url, "/"), "/xmlrpc")
	ids, err := restVMIDs(ctx, base, key)
	if err != nil {
		return fmt.Errorf("GET /v1/vms: %w", err)
	}
	if len(ids) == 0 {
		return errors.New("GET /v1/vms: no VM")
	}
	var canned bytes.Buffer
	if err := restGet(ctx, &http.Client{}, fmt.Sprintf("%s/v1/vms/%d", base, ids[0]), key, &canned); err != nil {
		return err
	}
	file := dir + "/rest-vm.json"
	if err := os.WriteFile(file, canned.Bytes(), 0o640); err != nil {
		return err
	}
	bl, err := startRESTBaseline(ctx, file)
	if err != nil {
		return err
	}
	defer func() {
		if e := bl.stop(); err == nil {
			err = e
		}
	}()
	checkB := func(id int64, body []byte) error {
		var r struct {
			VM struct {
				ID       int64  `json:"id"`
				Hostname string `json:"hostname"`
				Disks    []any  `json:"disks"`
			} `json:"vm"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		if r.VM.ID != id || r.VM.Hostname == "" || len(r.VM.Disks) == 0 {
			return fmt.Errorf("vm %d: got id %d, hostname %q, %d disks", id, r.VM.ID, r.VM.Hostname, len(r.VM.Disks))
		}
		return nil
	}
	checkBL := func(_ int64, body []byte) error {
		if !bytes.Equal(body, canned.Bytes()) {
			return errors.New("response differs from the canned bytes")
		}
		return nil
	}
	var onB, onBL sample
	fmt.Fprintf(out, "measuring %s: %d rounds of %s on berthd then the baseline...\n", callRESTInfo, o.rounds, o.duration/time.Duration(o.rounds))
	for r := range o.rounds {
		warm := time.Duration(0)
		if r == 0 {
			warm = o.warmup
		}
		s, err := restPhase(ctx, "berthd", base, key, ids, o.clients, warm, o.duration/time.Duration(o.rounds), b.pid(), checkB)
		if err != nil {
			return err
		}
		onB.add(s)
		s, err = restPhase(ctx, "baseline", bl.url, key, ids, o.clients, warm, o.duration/time.Duration(o.rounds), bl.pid(), checkBL)
		if err != nil {
			return err
		}
		onBL.add(s)
		if err := b.alive(); err != nil {
			return err
		}
	}
	onB.finish()
	onBL.finish()
	fmt.Fprintf(out, "%s: berthd %.0f req/s, p50 %s, p99 %s, %s CPU/req; baseline %.0f req/s, p50 %s, p99 %s; berthd/baseline throughput %.2f\n",
		callRESTInfo, onB.rate(), ms(quantile(onB.lat, 0.5)), ms(quantile(onB.lat, 0.99)), us(onB.perRequest(onB.serverCPU)),
		onBL.rate(), ms(quantile(onBL.lat, 0.5)), ms(quantile(onBL.lat, 0.99)), onB.rate()/onBL.rate())
	return nil
}
