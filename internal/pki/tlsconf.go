package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Reloader serves a certificate read from files, swapped atomically by Reload: handshakes
// in flight and open connections keep the certificate they started with, new handshakes
// get the new one. Use its GetCertificate (server) or GetClientCertificate (client).
type Reloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// NewReloader loads certFile and keyFile once; an error there is an error at start.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	return r, r.Reload()
}

// Reload reads the files again. On any error the current certificate stays in use.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load %s, %s: %w", r.certFile, r.keyFile, err)
	}
	r.cur.Store(&c)
	return nil
}

// Certificate is the certificate in use.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// GetCertificate is a tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// GetClientCertificate is a tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// APIServerConfig is the TLS configuration of the public API: TLS 1.2 or later, HTTP/2 and
// HTTP/1.1 offered, the certificate from r. Clients are not asked for a certificate.
func APIServerConfig(r *Reloader) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// HostFiles are the cluster TLS files of one host: the cluster CA certificate and this
// host's certificate and key (flags --cluster-ca, --host-cert, --host-key of berthd serve
// and berthd agent). The host certificate serves both as server and client certificate.
type HostFiles struct {
	CA, Cert, Key string
}

// Set reports whether all three files are given. Partly given is an error of Check.
func (h HostFiles) Set() bool { return h.CA != "" && h.Cert != "" && h.Key != "" }

// Check returns an error when only some of the files are given, or when they do not load
// or the certificate was not signed by the CA.
func (h HostFiles) Check() error {
	if h.CA == "" && h.Cert == "" && h.Key == "" {
		return nil
	}
	if !h.Set() {
		return errors.New("--cluster-ca, --host-cert and --host-key go together")
	}
	pool, err := Pool(h.CA)
	if err != nil {
		return err
	}
	p, err := Load(h.Cert, h.Key)
	if err != nil {
		return err
	}
	if _, err := p.Cert.Verify(verifyOpts(pool)); err != nil {
		return fmt.Errorf("%s: not signed by the cluster CA %s: %w", h.Cert, h.CA, err)
	}
	return nil
}

// ServerConfig is the TLS configuration of a host's internal listener: it presents the
// host certificate (reloadable) and requires a client certificate signed by the cluster CA,
// refusing any other (no certificate, another CA, an expired one). TLS 1.3 only.
// The verified peer's name is tls.ConnectionState().PeerCertificates[0].Subject.CommonName.
func (h HostFiles) ServerConfig() (*tls.Config, *Reloader, error) {
	pool, r, err := h.load()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: r.GetCertificate,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}, r, nil
}

// ClientConfig is the TLS configuration to dial another host named serverName (a DNS name
// or an address among its certificate's names): it presents this host's certificate and
// trusts only the cluster CA, not the system roots. TLS 1.3 only.
func (h HostFiles) ClientConfig(serverName string) (*tls.Config, *Reloader, error) {
	pool, r, err := h.load()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, GetClientCertificate: r.GetClientCertificate,
		RootCAs: pool, ServerName: serverName}, r, nil
}

func (h HostFiles) load() (*x509.CertPool, *Reloader, error) {
	if err := h.Check(); err != nil {
		return nil, nil, err
	}
	if !h.Set() {
		return nil, nil, errors.New("no cluster TLS files: give --cluster-ca, --host-cert and --host-key")
	}
	pool, err := Pool(h.CA)
	if err != nil {
		return nil, nil, err
	}
	r, err := NewReloader(h.Cert, h.Key)
	if err != nil {
		return nil, nil, err
	}
	return pool, r, nil
}
