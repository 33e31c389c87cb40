// Package config holds berthd's settings: Default(), then a JSON file, then flags, then
// Validate().
package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/berth-io/berth/api"
)

// Datacenter is one datacenter and its public address pools.
type Datacenter struct {
	ID            int64  `json:"id"`
	Code          string `json:"dc_code"`
	Name          string `json:"name"`
	Country       string `json:"country"`
	ISO           string `json:"iso"`
	IaaSClosedFor string `json:"iaas_closed_for"`
	IPv4Pool      string `json:"ipv4_pool"`
	IPv4Gateway   string `json:"ipv4_gateway"`
	IPv6Prefix    string `json:"ipv6_prefix"`
	// CanMigrateTo lists the datacenters (ids) this one's VMs and disks may migrate to
	// (hosting.vm.migrate, hosting.disk.migrate).
	CanMigrateTo []int64 `json:"can_migrate_to"`
}

// Rating is the hourly credit cost of each resource unit.
type Rating struct {
	CPU        int64 `json:"cpu"`
	RAMGB      int64 `json:"ram_gb"`
	DiskGB     int64 `json:"disk_gb"`
	SnapshotGB int64 `json:"snapshot_gb"`
	IPv4       int64 `json:"ipv4"`
	IPv6       int64 `json:"ipv6"`
	Instance   int64 `json:"instance"`
}

// Config is berthd's configuration.
type Config struct {
	Listen           string       `json:"listen"`
	DataDir          string       `json:"data_dir"`
	DB               string       `json:"db"`      // "" for SQLite in data_dir, or a postgres:// URL
	Backend          string       `json:"backend"` // qemu or sim
	ImagesDir        string       `json:"images_dir"`
	Datacenters      []Datacenter `json:"datacenters"`
	Rating           Rating       `json:"rating"`
	Currency         string       `json:"currency"`
	CreditCents      int64        `json:"credit_price_cents"`
	ReverseDomain    string       `json:"reverse_domain"`
	ConsoleURL       string       `json:"console_url"`
	BillingEvery     Duration     `json:"billing_every"`
	HeartbeatEvery   Duration     `json:"heartbeat_every"` // how often a host says it is alive
	HostTimeout      Duration     `json:"host_timeout"`    // silence after which a host is down
	ReconcileEvery   Duration     `json:"reconcile_every"` // how often VMs' actual state is checked
	MaxCores         int64        `json:"max_cores"`
	APIAccess        string       `json:"api_access"`         // granted (accounts given API access) or all
	TrialWarning     Duration     `json:"trial_warning"`      // how long before a free trial ends its account is warned
	Accel            string       `json:"accel"`              // qemu: auto (KVM only when a test boot works), tcg or kvm
	StopTimeout      Duration     `json:"stop_timeout"`       // qemu: ACPI power-off grace before quitting
	MemoryCapacityMB int64        `json:"memory_capacity_mb"` // memory VMs may use (0: the host's minus host_reserve_mb)
	HostReserveMB    int64        `json:"host_reserve_mb"`    // memory kept for the host itself
	DiskCapacityMB   int64        `json:"disk_capacity_mb"`   // disk space disks may use (0: 90% of the free space)
	NetnsPrefix      string       `json:"netns_prefix"`       // datacenter namespaces are <prefix><dc_code lowercased>
	HostNetwork      bool         `json:"host_network"`       // production: bridges and taps in the host's namespace
	SimLatency       Duration     `json:"sim_latency"`        // time each fake driver call takes (sim backend)
	VTEPAddr         string       `json:"vtep_addr"`          // agent: underlay IPv4 address of its VXLAN tunnels ("" = no overlay)
	UnderlayNetns    string       `json:"underlay_netns"`     // agent: namespace of the underlay ("" = the host's)
	VXLANPort        int          `json:"vxlan_port"`         // UDP port of the tunnels (default 4789)
	InternalListen   string       `json:"internal_listen"`    // agent: host:port of the internal listener (console proxy)
	InternalSecret   string       `json:"internal_secret"`    // file holding the secret API servers and agents sign internal tokens with
	AuditRetention   Duration     `json:"audit_retention"`    // how long audit log entries are kept ("2160h": 90 days)
	LogLevel         string       `json:"log_level"`
	// Per-VM counters (CPU, memory, disks, taps) of the VMs a host runs.
	StatsEvery      Duration `json:"stats_every"`       // how often a host reads them (for /metrics)
	StatsStoreEvery Duration `json:"stats_store_every"` // how often it writes a sample of each VM to the store (hosting.metric.query)
	StatsRetention  Duration `json:"stats_retention"`   // how long samples are kept
	MetricsListen   string   `json:"metrics_listen"`    // agent: host:port of its /metrics ("" = none)
}

// Duration is a time.Duration written as "90s" in JSON.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	d.Duration = v
	return err
}

// MarshalJSON writes "90s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Default is a configuration that makes `make run` useful: one open datacenter with
// addresses from the documentation ranges (they exist only inside Berth's namespaces).
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:8080",
		DataDir:   "/var/lib/berth",
		Backend:   "qemu",
		ImagesDir: "",
		Datacenters: []Datacenter{
			{ID: 1, Code: "FR-SD5", Name: "Paris, France SD5", Country: "France", ISO: "FR", IaaSClosedFor: "NONE",
				IPv4Pool: "192.0.2.0/24", IPv4Gateway: "192.0.2.1", IPv6Prefix: "2001:db8::/32", CanMigrateTo: []int64{2}},
			{ID: 2, Code: "LU-BI1", Name: "Bissen, Luxembourg", Country: "Luxembourg", ISO: "LU", IaaSClosedFor: "NONE",
				IPv4Pool: "198.51.100.0/24", IPv4Gateway: "198.51.100.1", IPv6Prefix: "2001:db8:1000::/36", CanMigrateTo: []int64{1}},
		},
		Rating:          Rating{CPU: 4, RAMGB: 3, DiskGB: 1, SnapshotGB: 1, IPv4: 2, IPv6: 0, Instance: 0},
		Currency:        "EUR",
		CreditCents:     1,
		ReverseDomain:   "berth.invalid",
		ConsoleURL:      "console.berth.invalid",
		BillingEvery:    Duration{time.Minute},
		ReconcileEvery:  Duration{5 * time.Second},
		HeartbeatEvery:  Duration{2 * time.Second},
		HostTimeout:     Duration{15 * time.Second},
		MaxCores:        4,
		APIAccess:       "granted",
		TrialWarning:    Duration{72 * time.Hour},
		AuditRetention:  Duration{90 * 24 * time.Hour},
		Accel:           "auto",
		StopTimeout:     Duration{30 * time.Second},
		HostReserveMB:   1024,
		NetnsPrefix:     "berth-",
		LogLevel:        "info",
		StatsEvery:      Duration{15 * time.Second},
		StatsStoreEvery: Duration{time.Minute},
		StatsRetention:  Duration{48 * time.Hour},
	}
}

// Load reads a JSON file over c; unknown keys are an error (a typo must not pass).
func (c *Config) Load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	d := json.NewDecoder(f)
	d.DisallowUnknownFields()
	if err := d.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := netip.ParseAddrPort(c.Listen); err != nil && !strings.HasPrefix(c.Listen, ":") {
		return fmt.Errorf("config: listen %q: want host:port", c.Listen)
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("config: db %q: want a postgres:// URL, or nothing for SQLite", c.DB)
	}
	if c.DataDir == "" {
		return fmt.Errorf("config: data_dir is empty")
	}
	switch c.Backend {
	case "qemu", "sim":
	default:
		return fmt.Errorf("config: backend %q is not qemu or sim", c.Backend)
	}
	if len(c.Datacenters) == 0 {
		return fmt.Errorf("config: no datacenter")
	}
	ids := map[int64]bool{}
	for _, d := range c.Datacenters {
		ids[d.ID] = true
	}
	for _, d := range c.Datacenters {
		for _, to := range d.CanMigrateTo {
			if to == d.ID || !ids[to] {
				return fmt.Errorf("config: datacenter %s: can_migrate_to %d is not another datacenter", d.Code, to)
			}
		}
		if d.IPv4Pool != "" {
			if _, err := netip.ParsePrefix(d.IPv4Pool); err != nil {
				return fmt.Errorf("config: datacenter %s: ipv4_pool: %w", d.Code, err)
			}
		}
		if d.IPv6Prefix != "" {
			if _, err := netip.ParsePrefix(d.IPv6Prefix); err != nil {
				return fmt.Errorf("config: datacenter %s: ipv6_prefix: %w", d.Code, err)
			}
		}
	}
	if c.APIAccess != "granted" && c.APIAccess != "all" {
		return fmt.Errorf("config: api_access %q is not granted or all", c.APIAccess)
	}
	if c.BillingEvery.Duration < time.Second {
		return fmt.Errorf("config: billing_every %s is under 1s", c.BillingEvery)
	}
	if c.ReconcileEvery.Duration < 100*time.Millisecond {
		return fmt.Errorf("config: reconcile_every %s is under 100ms", c.ReconcileEvery)
	}
	if c.HeartbeatEvery.Duration < 100*time.Millisecond || c.HostTimeout.Duration < 2*c.HeartbeatEvery.Duration {
		return fmt.Errorf("config: heartbeat_every %s must be at least 100ms and host_timeout %s at least twice it", c.HeartbeatEvery, c.HostTimeout)
	}
	if c.VTEPAddr != "" {
		if a, err := netip.ParseAddr(c.VTEPAddr); err != nil || !a.Is4() {
			return fmt.Errorf("config: vtep_addr %q is not an IPv4 address", c.VTEPAddr)
		}
	}
	if c.VXLANPort < 0 || c.VXLANPort > 65535 {
		return fmt.Errorf("config: vxlan_port %d out of range", c.VXLANPort)
	}
	if c.InternalListen != "" {
		if _, err := netip.ParseAddrPort(c.InternalListen); err != nil {
			return fmt.Errorf("config: internal_listen %q: want ip:port", c.InternalListen)
		}
	}
	if c.StatsEvery.Duration < 100*time.Millisecond || c.StatsStoreEvery.Duration < c.StatsEvery.Duration || c.StatsRetention.Duration < c.StatsStoreEvery.Duration {
		return fmt.Errorf("config: want 100ms <= stats_every (%s) <= stats_store_every (%s) <= stats_retention (%s)", c.StatsEvery, c.StatsStoreEvery, c.StatsRetention)
	}
	if c.MetricsListen != "" {
		if _, err := netip.ParseAddrPort(c.MetricsListen); err != nil && !strings.HasPrefix(c.MetricsListen, ":") {
			return fmt.Errorf("config: metrics_listen %q: want host:port", c.MetricsListen)
		}
	}
	if c.AuditRetention.Duration < time.Hour {
		return fmt.Errorf("config: audit_retention %s is under 1h", c.AuditRetention)
	}
	if c.MaxCores < 1 || c.MaxCores > 64 {
		return fmt.Errorf("config: max_cores %d is not between 1 and 64", c.MaxCores)
	}
	return nil
}

// APIRating converts the rating to the API's type.
func (c *Config) APIRating() api.Rating {
	r := c.Rating
	return api.Rating{CPU: r.CPU, RAM: r.RAMGB, DiskData: r.DiskGB, DiskSnapshot: r.SnapshotGB, IPv4: r.IPv4, IPv6: r.IPv6, Instance: r.Instance}
}
