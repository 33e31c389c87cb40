package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/berth-io/berth/internal/pki"
)

// targetTLSCost is the goal: TLS costs under 20 % of vm.info throughput with keep-alive.
const targetTLSCost = 0.20

// benchTLS is the TLS configuration of the load clients (trusting the bench's CA); nil
// while measuring plain HTTP.
var benchTLS *tls.Config

// measureTLS measures hosting.vm.info over HTTPS beside plain HTTP on the same data: in
// each of o.rounds rounds, berthd serves plain HTTP for one phase, then is restarted with
// --tls-cert for one phase (TLS 1.3, HTTP/1.1 keep-alive, one connection per client, like
// the plain phase), then restarted plain again. It prints both rates and their ratio.
// b runs plain HTTP before and after.
func measureTLS(ctx context.Context, o options, b *berthd, works []*workload, dir string, out io.Writer) error {
	var w *workload
	for _, x := range works {
		if x.call == callInfo {
			w = x
		}
	}
	if w == nil {
		return fmt.Errorf("no %s workload", callInfo)
	}
	ca, err := pki.NewCA("bench CA", time.Hour)
	if err != nil {
		return err
	}
	srv, err := pki.Issue(ca, "127.0.0.1", nil, pki.ServerAuth, time.Hour)
	if err != nil {
		return err
	}
	cert, key := filepath.Join(dir, "tls", "server.pem"), filepath.Join(dir, "tls", "server-key.pem")
	if err := srv.Write(cert, key, true); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	defer func() { benchTLS = nil }()

	restart := func(extra []string) error {
		if err := b.stop(); err != nil {
			return err
		}
		b.extra = extra
		return b.start(ctx)
	}
	var plain, secure sample
	plain.call, plain.server, secure.call, secure.server = w.call, "berthd http", w.call, "berthd https"
	fmt.Fprintf(out, "measuring %s over TLS beside plain HTTP: %d rounds of %s each (berthd restarted between)...\n", w.call, o.rounds, o.duration/time.Duration(o.rounds))
	for range o.rounds {
		benchTLS = nil
		p := phase{server: "berthd http", url: b.url, w: w, pid: b.pid(), clients: o.clients, duration: o.duration / time.Duration(o.rounds), warmup: o.warmup}
		s, err := p.run(ctx)
		if err != nil {
			return b.explain(err)
		}
		plain.add(s)
		if err := restart([]string{"--tls-cert", cert, "--tls-key", key}); err != nil {
			return err
		}
		benchTLS = tlsCfg
		p.server, p.url, p.pid = "berthd https", b.url, b.pid()
		if s, err = p.run(ctx); err != nil {
			return b.explain(err)
		}
		secure.add(s)
		if err := restart(nil); err != nil {
			return err
		}
	}
	plain.finish()
	secure.finish()
	cost := 1 - secure.rate()/plain.rate()
	fmt.Fprintf(out, "\n%s, %d keep-alive clients:\n", w.call, o.clients)
	fmt.Fprintf(out, "  plain HTTP  %8.0f req/s  p50 %s  p99 %s\n", plain.rate(), us(quantile(plain.lat, 0.5)), us(quantile(plain.lat, 0.99)))
	fmt.Fprintf(out, "  HTTPS       %8.0f req/s  p50 %s  p99 %s\n", secure.rate(), us(quantile(secure.lat, 0.5)), us(quantile(secure.lat, 0.99)))
	fmt.Fprintf(out, "  ratio HTTPS/HTTP %.2f\n", secure.rate()/plain.rate())
	target(out, fmt.Sprintf("TLS costs < %.0f %% of vm.info req/s", targetTLSCost*100), cost < targetTLSCost, fmt.Sprintf("%.1f %%", cost*100))
	return nil
}
