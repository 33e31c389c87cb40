package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-io/berth/client"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// tlsInit runs berthd admin tls init in dir and returns the CA file.
func tlsInit(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command(berthdBinary(t), "admin", "tls", "init", "--dir", dir, "--name", "127.0.0.1", "--name", "localhost").CombinedOutput()
	if err != nil {
		t.Fatalf("admin tls init: %v\n%s", err, out)
	}
	return filepath.Join(dir, "ca.pem")
}

// TestTLS serves the API over HTTPS with a certificate from berthd admin tls init and
// drives it with the real clients (Go client and berth CLI with --ca, Python xmlrpc.client
// with an SSL context, libcloud with secure=True), checks HTTP/2, reloads the certificate
// on SIGHUP under an open keep-alive connection, and checks the refusal to serve plain HTTP
// on a non-loopback address.
func TestTLS(t *testing.T) {
	t.Parallel() // see TestMain
	dir := t.TempDir()
	ca := tlsInit(t, dir)

	t.Run("refuse clear text on a public address", func(t *testing.T) {
		out, err := exec.Command(berthdBinary(t), "serve", "--data", t.TempDir(), "--backend", "sim", "--listen", "0.0.0.0:0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "refusing to serve the API in clear text on 0.0.0.0:0") ||
			!strings.Contains(string(out), "--insecure-http") {
			t.Fatalf("berthd serve on 0.0.0.0 without TLS: %v\n%s", err, out)
		}
	})

	b := NewBerthd(t, "sim", "--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server-key.pem"))
	b.Start()
	if !strings.HasPrefix(b.URL, "https://") {
		t.Fatalf("berthd with --tls-cert serves %s", b.URL)
	}
	key := b.Account("TLS1-BERTH", 100000)
	cl := client.New(b.URL, key)
	if err := cl.UseCA(ca); err != nil {
		t.Fatal(err)
	}
	b.HTTP = cl.HTTP

	t.Run("go client and HTTP/2", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		acc, err := cl.Info(ctx, "hosting.account.info")
		if err != nil || acc.Str("handle") != "TLS1-BERTH" {
			t.Fatalf("account.info over TLS: %v %v", acc, err)
		}
		var body bytes.Buffer
		xmlrpc.EncodeCall(&body, "hosting.vm.list", key)
		req, _ := http.NewRequestWithContext(ctx, "POST", b.URL, &body)
		resp, err := cl.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("a client offering h2 got %s", resp.Proto)
		}
		if resp, err := http.Post(strings.Replace(b.URL, "https://", "http://", 1), "text/xml", strings.NewReader("x")); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP on the TLS port: %s", resp.Status)
			}
		}
	})

	t.Run("python xmlrpc and libcloud", func(t *testing.T) {
		py := needPython(t, "libcloud.compute.drivers.gandi")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, filepath.Join("python", "tls_clients.py"), b.URL, key, ca)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca)
		out, err := cmd.CombinedOutput()
		t.Logf("tls_clients.py:\n%s", out)
		if err != nil {
			t.Fatalf("tls_clients.py: %v\nend of berthd's log:\n%s", err, tail(b.Stderr(), 3000))
		}
	})

	t.Run("berth CLI", func(t *testing.T) {
		u := newCLIUser(t)
		u.expect(1, "certificate", "--url", b.URL, "--api-key", key, "vm", "list")
		u.ok("setup", "--url", b.URL, "--api-key", key, "--ca", ca)
		u.ok("vm", "list")
		cfg, err := os.ReadFile(filepath.Join(u.home, ".config", "berth", "config.json"))
		if err != nil || !strings.Contains(string(cfg), ca) {
			t.Fatalf("setup did not save the CA file: %s %v", cfg, err)
		}
	})

	t.Run("reload on SIGHUP", func(t *testing.T) {
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(ca)
		pool.AppendCertsFromPEM(pem)
		// One HTTP/1.1 keep-alive connection, opened before the reload.
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1}}
		serial := func(hc *http.Client) (string, bool) {
			t.Helper()
			reused := false
			var body bytes.Buffer
			xmlrpc.EncodeCall(&body, "hosting.account.info", key)
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
			req, _ := http.NewRequestWithContext(ctx, "POST", b.URL, &body)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := xmlrpc.DecodeResponse(resp.Body); err != nil {
				t.Fatal(err)
			}
			return resp.TLS.PeerCertificates[0].SerialNumber.String(), reused
		}
		first, _ := serial(old)
		tlsInit(t, dir) // renews server.pem with the same CA
		b.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(30 * time.Second)
		for {
			fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if s, _ := serial(fresh); s != first {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new connections still get the old certificate 30s after SIGHUP\n%s", tail(b.Stderr(), 2000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		s, reused := serial(old)
		if !reused || s != first {
			t.Errorf("the keep-alive connection opened before SIGHUP: reused %v, serial %s (first %s)", reused, s, first)
		}
		if !strings.Contains(b.Stderr(), "tls certificate reloaded") {
			t.Error("no log line for the reload")
		}
	})

	// Last: it locks 127.0.0.1 out of this berthd for minutes.
	t.Run("failed authentications throttled", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 24 { // concurrently, so the growing delays do not add up
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.Call("hosting.account.info", strings.Repeat("z", 24))
			}()
		}
		wg.Wait()
		_, err := b.Call("hosting.vm.list", strings.Repeat("y", 24))
		var f *xmlrpc.Fault
		if !errors.As(err, &f) || f.Code != client.FaultInvalidKey || !strings.Contains(f.String, "too many failed authentications from 127.0.0.1") {
			t.Fatalf("after 25 failures: %v", err)
		}
		if _, err := b.Call("hosting.vm.list", key); err != nil {
			t.Fatalf("a key already used from the address: %v", err)
		}
		if !strings.Contains(b.Stderr(), "address locked out after repeated failures") {
			t.Error("no log line for the lockout")
		}
	})
}
