package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/internal/pki"
)

// TLSOptions are the transport security settings of berthd serve and berthd agent.
type TLSOptions struct {
	CertFile, KeyFile string // the API's HTTPS certificate (reloaded on SIGHUP)
	// InsecureHTTP allows plain HTTP on an address other than loopback (behind a
	// TLS-terminating proxy).
	InsecureHTTP bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the client (CIDRs).
	TrustedProxies []string
	// Cluster are this host's files for mutual TLS between hosts.
	Cluster pki.HostFiles
}

// tlsFlags registers the TLS flags; apiFlags adds those of the API (serve only).
func tlsFlags(cmd *cobra.Command, o *TLSOptions, apiFlags bool) {
	f := cmd.Flags()
	if apiFlags {
		f.StringVar(&o.CertFile, "tls-cert", "", "serve the API over HTTPS with this certificate (PEM; re-read on SIGHUP)")
		f.StringVar(&o.KeyFile, "tls-key", "", "private key of --tls-cert (PEM)")
		f.BoolVar(&o.InsecureHTTP, "insecure-http", false, "allow plain HTTP on an address other than loopback (behind a TLS-terminating proxy)")
		f.StringSliceVar(&o.TrustedProxies, "trusted-proxy", nil, "address or CIDR of a proxy whose X-Forwarded-For names the client (repeat)")
	}
	f.StringVar(&o.Cluster.CA, "cluster-ca", "", "cluster CA certificate for mutual TLS between hosts (berthd admin ca init)")
	f.StringVar(&o.Cluster.Cert, "host-cert", "", "this host's certificate from the cluster CA (berthd admin host cert)")
	f.StringVar(&o.Cluster.Key, "host-key", "", "private key of --host-cert")
}

// check validates the options against the listen address: plain HTTP is refused on any
// address but loopback unless InsecureHTTP says a proxy terminates TLS in front.
func (o TLSOptions) check(listen string) error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if err := o.Cluster.Check(); err != nil {
		return err
	}
	if _, err := o.proxies(); err != nil {
		return err
	}
	if o.CertFile != "" || o.InsecureHTTP || isLoopback(listen) {
		return nil
	}
	return fmt.Errorf("refusing to serve the API in clear text on %s, an address other than loopback: API keys would cross the network unencrypted. "+
		"Give --tls-cert and --tls-key (berthd admin tls init makes them), or --insecure-http when a TLS-terminating proxy is in front", listen)
}

// isLoopback reports whether a listen address (host:port) binds loopback only.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// apiTLS returns the API's TLS configuration and its reloader, or nil for plain HTTP.
func (o TLSOptions) apiTLS() (*tls.Config, *pki.Reloader, error) {
	if o.CertFile == "" {
		return nil, nil, nil
	}
	r, err := pki.NewReloader(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	return pki.APIServerConfig(r), r, nil
}

// ReloadTLS re-reads the API certificate (on SIGHUP): new connections get the new one, open
// connections keep theirs. On error the current certificate stays.
func (d *Daemon) ReloadTLS() error {
	if d.certs == nil {
		return nil
	}
	if err := d.certs.Reload(); err != nil {
		return err
	}
	d.log.Info("tls certificate reloaded", "cert", d.opt.TLS.CertFile, "sha256", pki.Fingerprint(d.certs.Certificate().Leaf))
	return nil
}

// Scheme is "https" when the API serves TLS, else "http".
func (d *Daemon) Scheme() string {
	if d.opt.TLS.CertFile != "" {
		return "https"
	}
	return "http"
}

// proxies parses TrustedProxies.
func (o TLSOptions) proxies() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range o.TrustedProxies {
		if a, err := netip.ParseAddr(s); err == nil {
			ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: want an address or a CIDR", s)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}
