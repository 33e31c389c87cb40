package pki

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster makes a CA in dir/NAME and a host certificate signed by it.
func cluster(t *testing.T, dir, name string) (HostFiles, *Pair) {
	t.Helper()
	ca, err := NewCA(name+" CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := HostFiles{CA: filepath.Join(dir, name, "ca.pem"), Cert: filepath.Join(dir, name, "host.pem"), Key: filepath.Join(dir, name, "host-key.pem")}
	if err := ca.Write(h.CA, filepath.Join(dir, name, "ca-key.pem"), false); err != nil {
		t.Fatal(err)
	}
	host, err := Issue(ca, "host-"+name, []string{"127.0.0.1", "localhost"}, ServerAuth|ClientAuth, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Write(h.Cert, h.Key, false); err != nil {
		t.Fatal(err)
	}
	if !host.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("host certificate outlives its CA: %v > %v", host.Cert.NotAfter, ca.Cert.NotAfter)
	}
	return h, ca
}

// serve accepts connections with cfg and answers "hello PEER" to each until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				io.WriteString(c, "hello "+tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	a, caA := cluster(t, dir, "a")
	b, _ := cluster(t, dir, "b")
	scfg, _, err := a.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, scfg)

	// Same CA: accepted, and the server sees the client's name.
	peer, err := Issue(caA, "agent-2", nil, ClientAuth|ServerAuth, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pf := HostFiles{CA: a.CA, Cert: filepath.Join(dir, "a2.pem"), Key: filepath.Join(dir, "a2-key.pem")}
	if err := peer.Write(pf.Cert, pf.Key, false); err != nil {
		t.Fatal(err)
	}
	ccfg, _, err := pf.ClientConfig("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dial(addr, ccfg); err != nil || got != "hello agent-2" {
		t.Fatalf("same CA: %q, %v", got, err)
	}

	// A client certificate from another CA: refused by the server.
	if _, _, err := (HostFiles{CA: a.CA, Cert: b.Cert, Key: b.Key}).ClientConfig("127.0.0.1"); err == nil {
		t.Fatal("ClientConfig accepted a host certificate of another CA")
	}
	other := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ccfg.RootCAs, ServerName: "127.0.0.1",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(b.Cert, b.Key)
			return &c, err
		}}
	if got, err := dial(addr, other); err == nil {
		t.Fatalf("client of another CA accepted: %q", got)
	}

	// No client certificate: refused.
	none := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ccfg.RootCAs, ServerName: "127.0.0.1"}
	if got, err := dial(addr, none); err == nil {
		t.Fatalf("client without certificate accepted: %q", got)
	}

	// A client of cluster b does not trust cluster a's server.
	bcfg, _, err := b.ClientConfig("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, bcfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client of cluster b trusted cluster a's server: %v", err)
	}

	// Half the flags is an error.
	if err := (HostFiles{CA: a.CA}).Check(); err == nil {
		t.Error("Check accepted --cluster-ca alone")
	}
}

func TestQEMUDir(t *testing.T) {
	dir := t.TempDir()
	h, _ := cluster(t, dir, "a")
	q := filepath.Join(dir, "qemu")
	if err := h.WriteQEMUDir(q); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(h.Cert)
	for name, want := range map[string]os.FileMode{"ca-cert.pem": 0o644, "server-cert.pem": 0o644, "server-key.pem": 0o600, "client-cert.pem": 0o644, "client-key.pem": 0o600} {
		st, err := os.Stat(filepath.Join(q, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(q, "server-cert.pem")); string(b) != string(host) {
		t.Error("server-cert.pem is not the host certificate")
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(q, "client-cert.pem"), filepath.Join(q, "client-key.pem")); err != nil {
		t.Error(err)
	}
}

func TestReloader(t *testing.T) {
	dir := t.TempDir()
	h, ca := cluster(t, dir, "a")
	r, err := NewReloader(h.Cert, h.Key)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Certificate()
	next, err := Issue(ca, "renewed", nil, ServerAuth, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Write(h.Cert, h.Key, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.Certificate() == first || r.Certificate().Leaf.Subject.CommonName != "renewed" {
		t.Fatal("Reload kept the old certificate")
	}
	os.WriteFile(h.Key, []byte("garbage"), 0o600)
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted a broken key")
	}
	if r.Certificate().Leaf.Subject.CommonName != "renewed" {
		t.Fatal("a failed Reload dropped the certificate in use")
	}
}
