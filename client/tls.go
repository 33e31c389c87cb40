package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// UseCA makes the client trust the CA certificates of caFile (PEM) for an https endpoint,
// in addition to the system's (a local CA made by berthd admin tls init). HTTP/2 is used
// when the server offers it.
func (c *Client) UseCA(caFile string) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("CA file %s: no PEM certificate", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	t.ForceAttemptHTTP2 = true
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
	c.HTTP.Transport = t
	return nil
}

// http1 returns a transport like rt that speaks only HTTP/1.1, for the console's upgrade
// (HTTP/2 has no connection upgrade).
func http1(rt http.RoundTripper) http.RoundTripper {
	t, ok := rt.(*http.Transport)
	if !ok {
		if rt != nil {
			return rt
		}
		t = http.DefaultTransport.(*http.Transport)
	}
	t = t.Clone()
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if t.TLSClientConfig != nil {
		t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return t
}
