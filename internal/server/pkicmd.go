package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-io/berth/internal/pki"
)

// reloadOnHUP re-reads the API certificate on each SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, d *Daemon, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := d.ReloadTLS(); err != nil {
				log.Error("tls certificate reload failed; the previous one stays in use", "err", err)
			}
		}
	}
}

// tlsCmd is berthd admin tls init: a local CA and the API's server certificate.
func tlsCmd(stdout io.Writer) *cobra.Command {
	tlsc := &cobra.Command{Use: "tls", Short: "Certificates of the HTTPS API"}
	var dir string
	var names []string
	var days int
	var force bool
	init := &cobra.Command{Use: "init", Short: "Make a local CA and a server certificate for the API (for operators without their own PKI)",
		Long: `init writes, in --dir: ca.pem (give it to clients: berth --ca, SSL_CERT_FILE, REQUESTS_CA_BUNDLE),
ca-key.pem (keep it offline), server.pem and server-key.pem (berthd serve --tls-cert, --tls-key).
An existing CA in --dir is reused, so running init again renews the server certificate;
then send berthd SIGHUP to load it without dropping connections.`,
		Example: "  berthd admin tls init --dir /etc/berth/tls --name api.example.net --name 192.0.2.10",
		Args:    cobra.NoArgs}
	init.Flags().StringVar(&dir, "dir", "", "directory of the files (required)")
	init.Flags().StringSliceVar(&names, "name", []string{"localhost", "127.0.0.1", "::1"}, "DNS names and IP addresses of the API (repeat)")
	init.Flags().IntVar(&days, "days", 397, "validity of the server certificate, in days")
	init.Flags().BoolVar(&force, "force", false, "replace the CA too")
	init.RunE = func(cmd *cobra.Command, _ []string) error {
		if dir == "" || len(names) == 0 {
			return fmt.Errorf("--dir and at least one --name are required")
		}
		ca, err := loadOrMakeCA(dir, "ca", "Berth API CA", force, stdout)
		if err != nil {
			return err
		}
		srv, err := pki.Issue(ca, names[0], names[1:], pki.ServerAuth, time.Duration(days)*24*time.Hour)
		if err != nil {
			return err
		}
		if err := srv.Write(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), true); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "server certificate %s for %v until %s (sha256 %s)\n", filepath.Join(dir, "server.pem"), names,
			srv.Cert.NotAfter.Format(time.DateOnly), pki.Fingerprint(srv.Cert))
		fmt.Fprintf(stdout, "serve with: berthd serve --tls-cert %s --tls-key %s\n", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
		return nil
	}
	tlsc.AddCommand(init)
	return tlsc
}

// loadOrMakeCA loads dir/BASE.pem and dir/BASE-key.pem, or makes them (ten years).
func loadOrMakeCA(dir, base, name string, force bool, stdout io.Writer) (*pki.Pair, error) {
	cert, key := filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")
	if !force {
		if _, err := os.Stat(key); err == nil {
			ca, err := pki.Load(cert, key)
			if err == nil && !ca.Cert.IsCA {
				err = fmt.Errorf("%s is not a CA certificate", cert)
			}
			return ca, err
		}
	}
	ca, err := pki.NewCA(name, 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := ca.Write(cert, key, true); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "new CA %s (sha256 %s); its key %s must stay secret\n", cert, pki.Fingerprint(ca.Cert), key)
	return ca, nil
}

// caCmd is berthd admin ca init: the cluster CA of host-to-host mutual TLS.
func caCmd(stdout io.Writer) *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "The cluster CA (mutual TLS between hosts)"}
	var dir string
	var force bool
	init := &cobra.Command{Use: "init", Short: "Make the cluster CA: cluster-ca.pem and cluster-ca-key.pem in --dir", Args: cobra.NoArgs}
	init.Flags().StringVar(&dir, "dir", "", "directory of the CA (required)")
	init.Flags().BoolVar(&force, "force", false, "replace an existing CA (every host certificate must then be reissued)")
	init.RunE = func(cmd *cobra.Command, _ []string) error {
		if dir == "" {
			return fmt.Errorf("--dir is required")
		}
		if _, err := os.Stat(filepath.Join(dir, "cluster-ca-key.pem")); err == nil && !force {
			return fmt.Errorf("%s already holds a cluster CA (--force replaces it)", dir)
		}
		_, err := loadOrMakeCA(dir, "cluster-ca", "Berth cluster CA", true, stdout)
		return err
	}
	ca.AddCommand(init)
	return ca
}

// hostCertCmd is berthd admin host cert NAME: a host certificate from the cluster CA.
func hostCertCmd(stdout io.Writer) *cobra.Command {
	var caDir, out string
	var names []string
	var days int
	cert := &cobra.Command{Use: "cert NAME", Short: "Issue NAME's certificate (server and client) from the cluster CA",
		Long: `cert writes NAME.pem and NAME-key.pem in --out (default: the CA's directory). Give the host
--cluster-ca CADIR/cluster-ca.pem --host-cert NAME.pem --host-key NAME-key.pem.`,
		Example: "  berthd admin host cert hv1 --ca-dir /etc/berth/cluster --name hv1.internal --name 10.0.0.11",
		Args:    cobra.ExactArgs(1)}
	cert.Flags().StringVar(&caDir, "ca-dir", "", "directory of the cluster CA (required)")
	cert.Flags().StringVar(&out, "out", "", "directory to write the certificate to (default --ca-dir)")
	cert.Flags().StringSliceVar(&names, "name", nil, "other DNS names and IP addresses of the host (repeat)")
	cert.Flags().IntVar(&days, "days", 365, "validity in days")
	cert.RunE = func(cmd *cobra.Command, args []string) error {
		if caDir == "" {
			return fmt.Errorf("--ca-dir is required")
		}
		if out == "" {
			out = caDir
		}
		ca, err := pki.Load(filepath.Join(caDir, "cluster-ca.pem"), filepath.Join(caDir, "cluster-ca-key.pem"))
		if err != nil {
			return fmt.Errorf("cluster CA: %w (make it with berthd admin ca init)", err)
		}
		p, err := pki.Issue(ca, args[0], names, pki.ServerAuth|pki.ClientAuth, time.Duration(days)*24*time.Hour)
		if err != nil {
			return err
		}
		c, k := filepath.Join(out, args[0]+".pem"), filepath.Join(out, args[0]+"-key.pem")
		if err := p.Write(c, k, true); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "host certificate %s for %s until %s (sha256 %s)\n", c, append([]string{args[0]}, names...),
			p.Cert.NotAfter.Format(time.DateOnly), pki.Fingerprint(p.Cert))
		return nil
	}
	return cert
}
