// Package server wires berthd together: store, service, operations engine, agent, drivers
// and the HTTP endpoints. Nothing imports it but cmd/berthd.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/billing"
	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/gandi"
	"github.com/berth-io/berth/internal/hypervisor"
	hvfake "github.com/berth-io/berth/internal/hypervisor/fake"
	"github.com/berth-io/berth/internal/netdev"
	netfake "github.com/berth-io/berth/internal/netdev/fake"
	"github.com/berth-io/berth/internal/ops"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/simstate"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/store/sqlstore"
	"github.com/berth-io/berth/internal/volume"
	volfake "github.com/berth-io/berth/internal/volume/fake"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// queue is the River queue of the all-in-one host.
const queue = "host-local"

// Daemon is a running berthd.
type Daemon struct {
	cfg    config.Config
	log    *slog.Logger
	st     store.Store
	svc    *service.Service
	eng    *ops.Engine
	agent  *agent.Agent
	hv     hypervisor.Driver
	vol    volume.Driver
	net    netdev.Driver
	nets   *networks
	http   *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// catalog builds the service catalog from the configuration and the images found.
func catalog(cfg config.Config, kernels []service.Kernel) *service.Catalog {
	c := &service.Catalog{Kernels: kernels}
	for _, d := range cfg.Datacenters {
		c.Datacenters = append(c.Datacenters, service.Datacenter{
			Datacenter: apiDatacenter(d), IPv4Pool: d.IPv4Pool, IPv4Gateway: d.IPv4Gateway, IPv6Prefix: d.IPv6Prefix,
		})
	}
	return c
}

// openStore opens the store of a configuration.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.DB != "" {
		return sqlstore.OpenPostgres(ctx, cfg.DB)
	}
	return sqlstore.OpenSQLite(ctx, cfg.DataDir)
}

// New builds a daemon: it opens the store, the drivers and the engine, without serving.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, done: make(chan struct{})}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d.st = st
	be, err := newBackend(ctx, cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d.hv, d.vol, d.net = be.hv, be.vol, be.net
	cat := catalog(cfg, be.kernels)
	if err := cat.Validate(); err != nil {
		st.Close()
		return nil, err
	}
	d.svc = service.New(st, cat, service.Config{
		Queue: queue, Rating: cfg.APIRating(), Currency: cfg.Currency, ReverseDomain: cfg.ReverseDomain,
		ConsoleURL: cfg.ConsoleURL, MaxCores: cfg.MaxCores, CreditPriceCents: cfg.CreditCents,
	}, log)
	d.nets = &networks{svc: d.svc, cat: cat, namespace: func(dc *service.Datacenter) string { return Namespace(dc.Code) },
		vlans: func(id int64) (*store.VLAN, error) {
			var v *store.VLAN
			err := st.Read(context.Background(), func(tx store.Tx) error { var err error; v, err = tx.VLAN(store.AllAccounts, id); return err })
			return v, err
		}}
	d.agent = agent.New(agent.Config{Store: st, HV: be.hv, Volumes: be.vol, Net: be.net, Seeder: be.seeder,
		Kernels: be.boot, Networks: d.nets, Logger: log})
	d.eng, err = ops.New(ctx, st, d.svc, ops.Config{Queues: []string{queue}, Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	d.svc.SetEngine(d.eng, d.agent)
	for i := range cat.Datacenters {
		if err := d.net.EnsureNetwork(ctx, d.nets.publicNetwork(&cat.Datacenters[i])); err != nil {
			st.Close()
			return nil, fmt.Errorf("network of datacenter %s: %w", cat.Datacenters[i].Code, err)
		}
	}
	if err := d.registerImages(ctx, be.images); err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

// Service returns the daemon's service (for admin commands and tests).
func (d *Daemon) Service() *service.Service { return d.svc }

// Handler is the HTTP handler of the API.
func (d *Daemon) Handler() http.Handler {
	srv := xmlrpc.NewServer(xmlrpc.Options{MapError: gandi.Fault, Logger: d.log})
	gandi.Register(srv, d.svc)
	mux := http.NewServeMux()
	for _, p := range []string{"/xmlrpc/", "/xmlrpc", "/xmlrpc/2.0/", "/"} {
		mux.Handle(p, srv)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/console/{id}", d.consoleHandler)
	return mux
}

// Start starts the engine, billing and the HTTP server, and returns the address it
// listens on.
func (d *Daemon) Start(ctx context.Context) (string, error) {
	ctx, d.cancel = context.WithCancel(ctx)
	if err := d.reconcile(ctx); err != nil {
		return "", fmt.Errorf("reconcile: %w", err)
	}
	if err := d.eng.Start(ctx); err != nil {
		return "", err
	}
	go d.reconcileLoop(ctx, d.cfg.ReconcileEvery.Duration)
	go billing.Run(ctx, d.st, d.cfg.APIRating(), d.cfg.BillingEvery.Duration, d.log)
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	d.ln = ln
	d.http = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go func() {
		defer close(d.done)
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// Stop shuts the daemon down: HTTP first, then the engine (running operations get a
// grace period, then are cancelled and resume at the next start). VMs keep running.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.http != nil {
		d.http.Shutdown(ctx)
		<-d.done
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

// backend is the set of drivers of one backend.
type backend struct {
	hv      hypervisor.Driver
	vol     volume.Driver
	net     netdev.Driver
	seeder  agent.Seeder
	boot    agent.Kernels
	kernels []service.Kernel
	images  []imageFile
}

// imageFile is an image to register at start.
type imageFile struct {
	spec service.ImageSpec
	file string
}

func newBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	switch cfg.Backend {
	case "sim":
		return simBackend(cfg)
	}
	return nil, fmt.Errorf("backend %q is not available in this build", cfg.Backend)
}

// simBackend is the sandbox: fake drivers, one synthetic image and kernel per datacenter.
func simBackend(cfg config.Config) (*backend, error) {
	dir := filepath.Join(cfg.DataDir, "sim")
	hv, err := hvfake.NewPersistent(simstate.File{Path: filepath.Join(dir, "vms.json"), Delay: cfg.SimLatency.Duration})
	if err != nil {
		return nil, err
	}
	vol, err := volfake.NewPersistent(0, simstate.File{Path: filepath.Join(dir, "disks.json"), Delay: cfg.SimLatency.Duration})
	if err != nil {
		return nil, err
	}
	b := &backend{hv: hv, vol: vol, net: netfake.New(),
		boot: func(name, cmdline string) hypervisor.Boot { return hypervisor.Boot{Kernel: name, Cmdline: cmdline} }}
	b.kernels = []service.Kernel{
		{Name: "sim-6.1-x86_64", Flavor: "linux", Kernel: "sim://kernel", Cmdline: "root=/dev/vda console=ttyS0 rw"},
		{Name: "grub", Flavor: "linux-hvm"},
		{Name: "raw", Flavor: "linux-hvm"},
	}
	for _, dc := range cfg.Datacenters {
		b.images = append(b.images, imageFile{spec: service.ImageSpec{Label: "Berth Tiny", DatacenterID: dc.ID, OSArch: "x86-64",
			System: "Berth", Version: "1", KernelVersion: "sim-6.1-x86_64", Cmdline: "root=/dev/vda console=ttyS0 rw", SizeMB: 3072}, file: "sim://tiny"})
	}
	return b, nil
}

func (d *Daemon) registerImages(ctx context.Context, images []imageFile) error {
	for _, im := range images {
		_, err := d.svc.RegisterImage(ctx, im.spec, func(id int64) (int64, error) { return d.vol.Import(ctx, id, im.file) })
		if err != nil {
			return err
		}
	}
	return nil
}

func newLogger(level string, w *os.File) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}
