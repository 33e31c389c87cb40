package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/service"
)

// Main runs berthd's command line and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	tuneGC()
	root := &cobra.Command{Use: "berthd", Short: "Berth: a self-hosted control plane speaking the Gandi Hosting API", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(serveCmd(stdout, stderr), agentCmd(stdout), adminCmd(stdout))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "berthd:", err)
		return 1
	}
	return 0
}

// configFlags registers the flags shared by every command that opens the data directory.
func configFlags(cmd *cobra.Command) func() (config.Config, error) {
	var file, data, backend, images, listen, db, netns, apiAccess string
	var simLatency, heartbeat, hostTimeout, statsEvery, statsStore time.Duration
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "JSON configuration file")
	f.StringVar(&data, "data", "", "data directory (database, disks, VM state)")
	f.StringVar(&backend, "backend", "", "qemu (real VMs) or sim (sandbox with fake drivers)")
	f.StringVar(&images, "images", "", "directory of built guest images (manifests)")
	f.StringVar(&listen, "listen", "", "address of the API, host:port")
	f.StringVar(&db, "db", "", "PostgreSQL URL (postgres://…); default: SQLite in the data directory")
	f.StringVar(&netns, "netns-prefix", "", "prefix of the datacenters' network namespaces (default berth-)")
	f.StringVar(&apiAccess, "api-access", "", "which accounts may use the APIs: granted (per handle, the default) or all")
	f.DurationVar(&simLatency, "sim-latency", 0, "time each fake driver call takes (sim backend)")
	f.DurationVar(&heartbeat, "heartbeat", 0, "how often a host says it is alive (default 2s)")
	f.DurationVar(&hostTimeout, "host-timeout", 0, "silence after which a host is marked down (default 15s)")
	f.DurationVar(&statsEvery, "stats-every", 0, "how often a host reads its VMs' counters for /metrics (default 15s)")
	f.DurationVar(&statsStore, "stats-store-every", 0, "how often a host stores a sample of each VM for hosting.metric.query (default 1m)")
	f.VisitAll(func(fl *pflag.Flag) { fl.Annotations = map[string][]string{configFlag: nil} }) // not in the audit log
	return func() (config.Config, error) {
		c := config.Default()
		if file != "" {
			if err := c.Load(file); err != nil {
				return c, err
			}
		}
		for dst, v := range map[*string]string{&c.DataDir: data, &c.Backend: backend, &c.ImagesDir: images, &c.Listen: listen, &c.DB: db, &c.NetnsPrefix: netns, &c.APIAccess: apiAccess} {
			if v != "" {
				*dst = v
			}
		}
		for dst, v := range map[*time.Duration]time.Duration{&c.SimLatency.Duration: simLatency, &c.HeartbeatEvery.Duration: heartbeat, &c.HostTimeout.Duration: hostTimeout,
			&c.StatsEvery.Duration: statsEvery, &c.StatsStoreEvery.Duration: statsStore} {
			if v > 0 {
				*dst = v
			}
		}
		if c.ImagesDir != "" {
			abs, err := filepath.Abs(c.ImagesDir)
			if err != nil {
				return c, err
			}
			c.ImagesDir = abs
		}
		return c, c.Validate()
	}
}

func serveCmd(stdout, stderr io.Writer) *cobra.Command {
	var demo bool
	var role string
	var tlsOpt TLSOptions
	cmd := &cobra.Command{Use: "serve", Short: "Run the API (and, all-in-one, the operations and VMs of this host)"}
	load := configFlags(cmd)
	tlsFlags(cmd, &tlsOpt, true)
	cmd.Flags().BoolVar(&demo, "demo", false, "create a demo account (once) and print its API key")
	cmd.Flags().StringVar(&role, "role", "all", "all (API + this host's VMs) or api (API only, with --db and agents)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		opt := Options{Role: RoleAll, TLS: tlsOpt}
		switch role {
		case "all":
		case "api":
			opt.Role = RoleAPI
		default:
			return fmt.Errorf("--role %q is not all or api", role)
		}
		log := newLogger(cfg.LogLevel, os.Stderr)
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		d, err := New(ctx, cfg, log, opt)
		if err != nil {
			return err
		}
		addr, err := d.Start(ctx)
		if err != nil {
			d.Stop(context.Background())
			return err
		}
		go reloadOnHUP(ctx, d, log)
		log.Info("berthd serving", "addr", addr, "scheme", d.Scheme(), "backend", cfg.Backend, "data", cfg.DataDir)
		fmt.Fprintf(stdout, "berthd: API at %s://%s/xmlrpc/ (backend %s, data %s)\n", d.Scheme(), addr, cfg.Backend, cfg.DataDir)
		if demo {
			key, err := demoAccount(ctx, d.Service(), cfg.DataDir)
			if err != nil {
				log.Error("demo account", "err", err)
			} else {
				fmt.Fprintf(stdout, "berthd: demo account \"demo\", API key %s\n", key)
				fmt.Fprintf(stdout, "berthd: try: API_HOST=%s://%s/xmlrpc/ API_KEY=%s gandi vm list\n", d.Scheme(), addr, key)
				if err := demoVM(ctx, d, cfg, key, addr, stdout); err != nil {
					log.Error("demo vm", "err", err)
					fmt.Fprintf(stdout, "berthd: no demo vm: %v\n", err)
				}
			}
		}
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return d.Stop(sctx)
	}
	return cmd
}

func agentCmd(stdout io.Writer) *cobra.Command {
	var host, dc, vtep, underlay, internal, metricsListen string
	var tlsOpt TLSOptions
	cmd := &cobra.Command{Use: "agent", Short: "Run a hypervisor host: its own operations queue and its VMs (scale-out, with --db)"}
	load := configFlags(cmd)
	tlsFlags(cmd, &tlsOpt, false)
	cmd.Flags().StringVar(&host, "host", "", "name of this host (required)")
	cmd.Flags().StringVar(&dc, "datacenter", "", "datacenter code or id this host serves (required)")
	cmd.Flags().StringVar(&vtep, "vtep-addr", "", "underlay IPv4 address of this host's VXLAN tunnels (joins the datacenter's networks across hosts)")
	cmd.Flags().StringVar(&underlay, "underlay-netns", "", "network namespace of the underlay (default: the host's)")
	cmd.Flags().StringVar(&internal, "internal-listen", "", "ip:port of the internal listener API servers reach this host on (console)")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "host:port where this host serves /metrics (its VMs' counters); default none")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		for dst, v := range map[*string]string{&cfg.VTEPAddr: vtep, &cfg.UnderlayNetns: underlay, &cfg.InternalListen: internal, &cfg.MetricsListen: metricsListen} {
			if v != "" {
				*dst = v
			}
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		if host == "" || dc == "" {
			return errors.New("--host and --datacenter are required")
		}
		log := newLogger(cfg.LogLevel, os.Stderr).With("host", host)
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		d, err := New(ctx, cfg, log, Options{Role: RoleAgent, Host: host, Datacenter: dc, TLS: tlsOpt})
		if err != nil {
			return err
		}
		if _, err := d.Start(ctx); err != nil {
			d.Stop(context.Background())
			return err
		}
		fmt.Fprintf(stdout, "berthd: agent %s serving datacenter %s (backend %s)\n", host, dc, cfg.Backend)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return d.Stop(sctx)
	}
	return cmd
}

// demoAccount creates the demo account once, keeping its key in the data directory so a
// later `make run` can print it again.
func demoAccount(ctx context.Context, svc *service.Service, dir string) (string, error) {
	path := filepath.Join(dir, "demo.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	_, key, err := svc.CreateAccount(ctx, "demo", "Demo account", 100000)
	if err != nil {
		return "", err
	}
	if _, err := svc.Credit(ctx, "demo", 0, 100000); err != nil {
		return "", err
	}
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

func adminCmd(stdout io.Writer) *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Administer accounts and images (on the data directory)"}
	account := &cobra.Command{Use: "account", Short: "Create accounts and add credits"}
	hosts := hostCmd(stdout)
	hosts.AddCommand(hostCertCmd(stdout))
	admin.AddCommand(account, imageCmd(stdout), clusterCmd(stdout), hosts, vmMoveCmd(stdout), tlsCmd(stdout), caCmd(stdout))

	var handle, fullname string
	var credits, cents int64
	create := &cobra.Command{Use: "create", Short: "Create an account and print its new API key"}
	loadC := configFlags(create)
	create.Flags().StringVar(&handle, "handle", "", "account handle (required)")
	create.Flags().StringVar(&fullname, "fullname", "", "full name")
	create.Flags().Int64Var(&credits, "credits", 0, "initial credits")
	var noAPI bool
	create.Flags().BoolVar(&noAPI, "no-api-access", false, "create the account without API access (grant it later: account api enable)")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDaemon(adminAudit(cmd, nil), loadC, RoleAdmin, func(ctx context.Context, dm *Daemon) error {
			svc := dm.svc
			if handle == "" {
				return errors.New("--handle is required")
			}
			_, key, err := svc.CreateAccount(ctx, handle, fullname, credits)
			if err != nil {
				return err
			}
			if noAPI {
				if err := svc.SetAPIAccess(ctx, handle, false); err != nil {
					return err
				}
			}
			fmt.Fprintln(stdout, key)
			return nil
		})
	}
	credit := &cobra.Command{Use: "credit", Short: "Add credits (and prepaid money) to an account"}
	loadK := configFlags(credit)
	credit.Flags().StringVar(&handle, "handle", "", "account handle (required)")
	credit.Flags().Int64Var(&credits, "credits", 0, "credits to add")
	credit.Flags().Int64Var(&cents, "prepaid-cents", 0, "prepaid money to add, in cents")
	credit.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDaemon(adminAudit(cmd, nil), loadK, RoleAdmin, func(ctx context.Context, dm *Daemon) error {
			svc := dm.svc
			if handle == "" {
				return errors.New("--handle is required")
			}
			a, err := svc.Credit(ctx, handle, credits, cents)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: %d credits, prepaid %d.%02d\n", a.Handle, a.Credits, a.PrepaidCents/100, a.PrepaidCents%100)
			return nil
		})
	}
	account.AddCommand(create, credit, apiAccessCmd(stdout), adminKeyCmd(stdout))
	admin.AddCommand(couponCmd(stdout), trialCmd(stdout), auditCmd(stdout))
	return admin
}

func imageCmd(stdout io.Writer) *cobra.Command {
	image := &cobra.Command{Use: "image", Short: "Register guest images"}
	var file, label, dc, system, version, kernel, cmdline string
	imp := &cobra.Command{Use: "import", Short: "Register a qcow2 image (any cloud image with cloud-init) in a datacenter"}
	load := configFlags(imp)
	f := imp.Flags()
	f.StringVar(&file, "file", "", "qcow2 file (required)")
	f.StringVar(&label, "label", "", "image label (required)")
	f.StringVar(&dc, "datacenter", "", "datacenter code or id (required)")
	f.StringVar(&system, "system", "Linux", "operating system name")
	f.StringVar(&version, "version", "", "operating system version")
	f.StringVar(&kernel, "kernel", "grub", "kernel the image boots with: grub (its own bootloader) or a kernel of disk.list_kernels")
	f.StringVar(&cmdline, "cmdline", "", "kernel command line, for a direct kernel boot")
	imp.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDaemon(adminAudit(cmd, nil), load, RoleAdmin, func(ctx context.Context, d *Daemon) error {
			if file == "" || label == "" || dc == "" {
				return errors.New("--file, --label and --datacenter are required")
			}
			dcID, err := datacenterID(d.svc.Catalog(), dc)
			if err != nil {
				return err
			}
			if _, ok := d.svc.Catalog().Kernel(kernel); !ok {
				return fmt.Errorf("kernel %q is not in this host's catalog", kernel)
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				return err
			}
			im, err := d.svc.RegisterImage(ctx, service.ImageSpec{Label: label, DatacenterID: dcID, OSArch: "x86-64", System: system,
				Version: version, KernelVersion: kernel, Cmdline: cmdline}, func(id int64) (int64, error) {
				vol, err := volumeDriver(d.cfg)
				if err != nil {
					return 0, err
				}
				return vol.Import(ctx, id, abs)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "image %d %q: disk %d, %d MB, datacenter %d\n", im.ID, im.Label, im.DiskID, im.Size, im.DatacenterID)
			return nil
		})
	}
	image.AddCommand(imp)
	return image
}

func withDaemon(ctx context.Context, load func() (config.Config, error), role Role, fn func(context.Context, *Daemon) error) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	d, err := New(ctx, cfg, newLogger("warn", os.Stderr), Options{Role: role})
	if err != nil {
		return err
	}
	defer d.st.Close()
	err = fn(ctx, d)
	d.svc.AuditEnd(ctx, err) // an admin command that changes something is recorded
	return err
}

// tuneGC trades memory for CPU: a control plane's live heap is small (tens of MB with
// 10,000 VMs stored) and its requests allocate a lot, so collecting at 5× the live heap
// instead of 2× saves much CPU (bench/api: vm.info about 1.5× faster), while the soft limit
// keeps the heap from growing far. GOGC and GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}
