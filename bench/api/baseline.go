package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The baseline is a bare net/http server that answers each call with the canned bytes of
// a real berthd response to the same call: the floor any XML-RPC server on net/http pays
// for HTTP, loopback TCP and the response size. It runs as a separate process (this
// program, re-executed with BERTH_BENCH_API_BASELINE set), like berthd: both then compete the same way
// with the load generator for the 2 cores, have their own GC and heap, and their resident
// memory can be read apart.

// baselineEnv, set to a directory of canned responses, turns this program into the
// baseline server.
const baselineEnv = "BERTH_BENCH_API_BASELINE"

// cannedFile is where the canned response of a call is kept.
func cannedFile(dir, call string) string { return filepath.Join(dir, call+".xml") }

// serveBaseline is the baseline process: it serves the canned responses in dir, one
// per call, at /CALL, prints "baseline: listening on ADDR" and runs until SIGTERM, SIGINT
// or the end of its stdin.
func serveBaseline(dir string) error {
	canned := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		canned["/"+strings.TrimSuffix(filepath.Base(f), ".xml")] = b
	}
	if len(canned) == 0 {
		return fmt.Errorf("no canned response in %s", dir)
	}
	h := baselineHandler(canned)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The same server settings as berthd's API (internal/server).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	fmt.Printf("baseline: listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baselineHandler answers a POST to /CALL with the canned bytes of CALL, after reading the
// request body, with the headers berthd's XML-RPC server sends.
func baselineHandler(canned map[string][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := canned[r.URL.Path]
		web := strings.HasPrefix(r.URL.Path, "/web.") // a console page: GET, HTML
		if (r.Method != http.MethodPost && !web) || !ok {
			http.Error(w, "no such call", http.StatusNotFound)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		hd := w.Header()
		hd.Set("Content-Type", "text/xml; charset=utf-8")
		if web {
			hd.Set("Content-Type", "text/html; charset=utf-8")
		}
		hd.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// baseline is a running baseline process.
type baseline struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string // http://127.0.0.1:PORT
	done  chan error
}

// startBaseline re-executes this program as the baseline server of the canned responses
// in dir.
func startBaseline(ctx context.Context, dir string) (*baseline, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), baselineEnv+"="+dir)
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
		return nil, fmt.Errorf("start baseline: %w", err)
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
		return nil, fmt.Errorf("baseline exited before serving: %w", err)
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-b.done
	return nil, errors.New("baseline did not serve within 30s")
}

// pid is the baseline's process id.
func (b *baseline) pid() int { return b.cmd.Process.Pid }

// stop closes the baseline's stdin and waits for it to exit.
func (b *baseline) stop() error {
	b.stdin.Close()
	select {
	case err := <-b.done:
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		return errors.New("baseline did not stop: killed")
	}
}
