package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
)

func verifyOpts(pool *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}

// WriteQEMUDir lays the host's files out in dir the way QEMU's tls-creds-x509 object wants
// them (ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem), the
// host certificate serving as both server and client certificate. dir is made mode 0700;
// keys are 0600. Use it as: -object tls-creds-x509,id=tls0,dir=DIR,endpoint=server|client,verify-peer=on
func (h HostFiles) WriteQEMUDir(dir string) error {
	if err := h.Check(); err != nil {
		return err
	}
	ca, err := os.ReadFile(h.CA)
	if err != nil {
		return err
	}
	p, err := Load(h.Cert, h.Key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, f := range map[string]struct {
		b    []byte
		mode os.FileMode
	}{
		"ca-cert.pem": {ca, 0o644}, "server-cert.pem": {p.CertPEM, 0o644}, "client-cert.pem": {p.CertPEM, 0o644},
		"server-key.pem": {p.KeyPEM, 0o600}, "client-key.pem": {p.KeyPEM, 0o600},
	} {
		if err := writeFile(filepath.Join(dir, name), f.b, f.mode); err != nil {
			return err
		}
	}
	return nil
}
