// Package server wires berthd together: store, service, operations engine, agent, drivers
// and the HTTP endpoints, in one of three roles: all-in-one (the default), API only, or
// hypervisor agent. Nothing imports it but cmd/berthd (and bench programs).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/billing"
	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/gandi"
	"github.com/berth-io/berth/internal/hosttoken"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/pki"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/web"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// Role is what a berthd process does.
type Role int

// Roles.
const (
	RoleAll   Role = iota // API, operations and VMs of this host (the default)
	RoleAPI               // API only: stateless, several behind a load balancer
	RoleAgent             // a hypervisor host: its own queue, its VMs, no API
	RoleAdmin             // the admin commands: the store and the service, nothing running
)

// Options are the role and, for hosts, their identity.
type Options struct {
	Role Role
	Host string // host name; "local" for the all-in-one host
	// Datacenter is the dc_code (or id) a RoleAgent host serves; the all-in-one host serves
	// every datacenter.
	Datacenter string
	// TLS is the API's HTTPS certificate and the cluster's mutual-TLS files.
	TLS TLSOptions
	// WrapInternal wraps an agent's internal listener (e.g. tls.NewListener with the
	// cluster's CA); DialInternal is how API servers reach it (e.g. a tls.Dialer). Nil:
	// plain TCP, requests authorised by host tokens only.
	WrapInternal func(net.Listener) net.Listener
	DialInternal func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Daemon is a running berthd.
type Daemon struct {
	cfg    config.Config
	opt    Options
	log    *slog.Logger
	st     store.Store
	svc    *service.Service
	eng    *ops.Engine
	be     *backend // nil for RoleAPI
	agent  *agent.Agent
	nets   *networks
	hostDC int64
	// internalURL is where API servers reach this agent (console), "" without a listener.
	internalURL string
	internal    *http.Server
	checker     *hosttoken.Checker
	secretMu    sync.Mutex
	secret      []byte
	http        *http.Server
	web         *web.Server
	cancel      context.CancelFunc
	done        chan struct{}

	metrics     *metrics      // /metrics (metrics.go)
	metricsHTTP *http.Server  // an agent's /metrics listener (vmmetrics.go)
	certs       *pki.Reloader // the API's certificate; nil for plain HTTP
}

// openStore opens the store of a configuration.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.DB != "" {
		return sqlstore.OpenPostgres(ctx, cfg.DB)
	}
	return sqlstore.OpenSQLite(ctx, cfg.DataDir)
}

// New builds a daemon: it opens the store, the drivers and the engine, without serving.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (d *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Role == RoleAll && opt.Host == "" {
		opt.Host = "local"
	}
	if opt.Role == RoleAgent && opt.Host == "" {
		return nil, errors.New("an agent needs --host NAME")
	}
	if (opt.Role == RoleAPI || opt.Role == RoleAgent) && cfg.DB == "" {
		return nil, errors.New("the api and agent roles share a PostgreSQL database: give --db postgres://…")
	}
	if opt.Role == RoleAll || opt.Role == RoleAPI {
		if err := opt.TLS.check(cfg.Listen); err != nil {
			return nil, err
		}
	} else if err := opt.TLS.Cluster.Check(); err != nil {
		return nil, err
	}
	d = &Daemon{cfg: cfg, opt: opt, log: log, done: make(chan struct{})}
	if d.st, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	st := d.st
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	images, kernels, err := imageCatalog(cfg)
	if err != nil {
		return nil, err
	}
	cat := catalog(cfg, kernels)
	if err := cat.Validate(); err != nil {
		return nil, err
	}
	d.svc = service.New(d.st, cat, service.Config{
		Rating: cfg.APIRating(), Currency: cfg.Currency, ReverseDomain: cfg.ReverseDomain,
		ConsoleURL: cfg.ConsoleURL, MaxCores: cfg.MaxCores, CreditPriceCents: cfg.CreditCents,
		OpenAPIAccess: cfg.APIAccess == "all", TrialWarning: cfg.TrialWarning.Duration, AuditRetention: cfg.AuditRetention.Duration,
	}, log)
	d.nets = &networks{svc: d.svc, cat: cat, namespace: func(dc *service.Datacenter) string {
		if cfg.HostNetwork {
			return ""
		}
		return Namespace(cfg.NetnsPrefix, dc.Code)
	},
		vlans: func(id int64) (*store.VLAN, error) {
			var v *store.VLAN
			err := d.st.Read(context.Background(), func(tx store.Tx) error { var err error; v, err = tx.VLAN(store.AllAccounts, id); return err })
			return v, err
		}}
	var queues, own []string
	var exec service.Executor
	if opt.Role == RoleAll || opt.Role == RoleAgent {
		if opt.Role == RoleAgent {
			if d.hostDC, err = datacenterID(cat, opt.Datacenter); err != nil {
				return nil, err
			}
		}
		if d.be, err = newBackend(ctx, cfg, log); err != nil {
			return nil, err
		}
		if cfg.VTEPAddr != "" {
			if opt.Role != RoleAgent {
				return nil, errors.New("a datacenter overlay (vtep_addr) needs the agent role")
			}
			if err := d.be.checkUnderlay(cfg); err != nil {
				return nil, err
			}
			d.nets.overlay = &overlay{local: cfg.VTEPAddr, underlay: cfg.UnderlayNetns, port: cfg.VXLANPort}
		}
		d.agent = agent.New(agent.Config{Store: d.st, HV: d.be.hv, Volumes: d.be.vol, Net: d.be.net, Seeder: d.be.seeder,
			Kernels: d.be.boot(cat), Networks: d.nets, Logger: log, Disks: diskFetcher{d}, Host: opt.Host, MemoryMB: d.be.memMB, OverheadMB: d.be.overheadMB,
			MigrationHost: migrationHost(cfg), StatsStoreEvery: cfg.StatsStoreEvery.Duration, StatsRetention: cfg.StatsRetention.Duration})
		exec = d.agent
		queues = []string{service.HostQueue(opt.Host), service.ControlQueue}
		own = queues[:1]
		if opt.Role == RoleAll {
			own = queues // nobody else works the control queue
		}
	}
	if d.eng, err = ops.New(ctx, d.st, d.svc, ops.Config{Queues: queues, Recover: own, Logger: log, Worker: opt.Host,
		Periodic: []ops.Periodic{{Name: "snapshot_profiles", Every: service.SnapshotTickEvery, Queue: service.ControlQueue, Run: d.svc.SnapshotTick},
			{Name: "audit_prune", Every: service.AuditPruneEvery, Queue: service.ControlQueue, Run: d.svc.AuditPruneTick}}}); err != nil {
		return nil, err
	}
	d.svc.SetEngine(d.eng, exec)
	if d.be != nil {
		for i := range cat.Datacenters {
			if dc := &cat.Datacenters[i]; d.hostDC == 0 || dc.ID == d.hostDC {
				if err := d.be.net.EnsureNetwork(ctx, d.nets.publicNetwork(dc)); err != nil {
					return nil, fmt.Errorf("network of datacenter %s: %w", dc.Code, err)
				}
			}
		}
		if err := d.registerImages(ctx, images); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Service returns the daemon's service (for admin commands and tests).
func (d *Daemon) Service() *service.Service { return d.svc }

// Handler is the HTTP handler of the API.
func (d *Daemon) Handler() http.Handler {
	d.metrics = newMetrics(d.svc, d.vmMetrics())
	srv := xmlrpc.NewServer(xmlrpc.Options{MapError: gandi.Fault, Logger: d.log, Observe: d.metrics.observeXMLRPC})
	gandi.Register(srv, d.svc)
	mux := http.NewServeMux()
	for _, p := range []string{"/xmlrpc/", "/xmlrpc", "/xmlrpc/2.0/", "/"} {
		mux.Handle(p, srv)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/console/{id}", d.consoleHandler)
	d.mountREST(mux)
	d.registerWeb(mux)
	proxies, _ := d.opt.TLS.proxies() // checked in New
	return withClient(mux, proxies)
}

// Start registers the host, starts the engine, the loops and the HTTP server (not for an
// agent), and returns the address it listens on.
func (d *Daemon) Start(ctx context.Context) (string, error) {
	ctx, d.cancel = context.WithCancel(ctx)
	if d.be != nil {
		if err := d.startInternal(ctx); err != nil {
			return "", err
		}
		if err := d.svc.RegisterHost(ctx, store.Host{Name: d.opt.Host, DatacenterID: d.hostDC, MemoryMB: d.be.memMB, DiskMB: d.be.diskMB,
			VTEPAddr: d.cfg.VTEPAddr, InternalURL: d.internalURL}); err != nil {
			return "", fmt.Errorf("register host: %w", err)
		}
		if err := d.syncOverlay(ctx); err != nil {
			return "", err
		}
		go d.every(ctx, d.cfg.HeartbeatEvery.Duration, "overlay", d.syncOverlay)
		if err := d.reconcile(ctx); err != nil {
			return "", fmt.Errorf("reconcile: %w", err)
		}
		go d.every(ctx, d.cfg.HeartbeatEvery.Duration, "heartbeat", func(ctx context.Context) error { return d.svc.Heartbeat(ctx, d.opt.Host) })
		go d.every(ctx, d.cfg.ReconcileEvery.Duration, "reconcile", d.reconcile)
		go d.every(ctx, d.cfg.StatsEvery.Duration, "vm stats", d.agent.CollectStats)
		if err := d.startAgentMetrics(ctx); err != nil {
			return "", fmt.Errorf("metrics listener: %w", err)
		}
	}
	if err := d.eng.Start(ctx); err != nil {
		return "", err
	}
	go d.every(ctx, d.cfg.HeartbeatEvery.Duration, "host check", func(ctx context.Context) error {
		down, err := d.svc.CheckHosts(ctx, d.cfg.HostTimeout.Duration, d.opt.Host)
		for _, h := range down {
			// The shared queue's jobs it was running go to the hosts still up, now.
			if _, terr := d.eng.TakeOver(ctx, h, []string{service.ControlQueue}); terr != nil {
				err = errors.Join(err, terr)
			}
		}
		return err
	})
	if d.opt.Role == RoleAgent {
		close(d.done)
		return "", nil
	}
	go billing.Run(ctx, d.st, d.cfg.APIRating(), d.cfg.BillingEvery.Duration, d.log)
	go d.pruneIdempotency(ctx)
	go d.every(ctx, d.cfg.BillingEvery.Duration, "credits", func(ctx context.Context) error {
		_, err := d.svc.CreditsTick(ctx)
		return err
	})
	tcfg, certs, err := d.opt.TLS.apiTLS()
	if err != nil {
		return "", err
	}
	d.certs = certs
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	d.http = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, TLSConfig: tcfg}
	d.startEvents(ctx)
	go func() {
		defer close(d.done)
		serve := d.http.Serve
		if tcfg != nil {
			serve = func(ln net.Listener) error { return d.http.ServeTLS(ln, "", "") } // HTTP/2 offered
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// every runs fn every interval until ctx ends, logging its errors.
func (d *Daemon) every(ctx context.Context, interval time.Duration, what string, fn func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				d.log.Error(what, "err", err)
			}
		}
	}
}

// Stop shuts the daemon down: HTTP first, then the engine (running operations get a
// grace period, then are cancelled and resume at the next start). VMs keep running.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.http != nil {
		d.http.Shutdown(ctx)
		<-d.done
	}
	if d.internal != nil {
		d.internal.Close()
	}
	if d.metricsHTTP != nil {
		d.metricsHTTP.Close()
	}
	err := d.eng.Stop(ctx)
	if d.cancel != nil {
		d.cancel()
	}
	if e := d.st.Close(); err == nil {
		err = e
	}
	return err
}

func newLogger(level string, w *os.File) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}
