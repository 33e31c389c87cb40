package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/config"
	"github.com/berth-io/berth/internal/hypervisor"
	hvfake "github.com/berth-io/berth/internal/hypervisor/fake"
	"github.com/berth-io/berth/internal/hypervisor/qemu"
	"github.com/berth-io/berth/internal/image"
	"github.com/berth-io/berth/internal/netdev"
	netfake "github.com/berth-io/berth/internal/netdev/fake"
	"github.com/berth-io/berth/internal/netdev/linux"
	"github.com/berth-io/berth/internal/seed"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/simstate"
	"github.com/berth-io/berth/internal/volume"
	volfake "github.com/berth-io/berth/internal/volume/fake"
	"github.com/berth-io/berth/internal/volume/qcow2"
)

// backend is the set of drivers of one backend, and the capacity of the host.
type backend struct {
	hv         hypervisor.Driver
	vol        volume.Driver
	net        netdev.Driver
	seeder     agent.Seeder
	memMB      int64 // host memory VMs may use
	diskMB     int64 // host disk space disks may use
	overheadMB int64 // memory of a VM's QEMU beyond its guest
}

// boot resolves a disk's kernel into how the VM boots, from the catalog.
func (b *backend) boot(cat *service.Catalog) agent.Kernels {
	return func(name, cmdline string) hypervisor.Boot {
		k, ok := cat.Kernel(name)
		if !ok || k.Firmware() {
			return hypervisor.Boot{} // the disk's own bootloader
		}
		return hypervisor.Boot{Kernel: k.Kernel, Initrd: k.Initrd, Cmdline: cmdline}
	}
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
	case "qemu":
		return qemuBackend(ctx, cfg, log)
	}
	return nil, fmt.Errorf("backend %q is not qemu or sim", cfg.Backend)
}

// qemuBackend is the real one: QEMU processes, qcow2 files, taps on bridges in one network
// namespace per datacenter, NoCloud seeds.
func qemuBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	probe := qemu.Probe{}
	if ms, err := image.LoadDir(cfg.ImagesDir); err == nil && len(ms) > 0 {
		probe.Kernel, probe.Initrd = ms[0].Kernel, ms[0].Initrd
	}
	hv, err := qemu.New(qemu.Config{RunDir: filepath.Join(cfg.DataDir, "vms"), Accel: cfg.Accel, Probe: probe,
		StopTimeout: cfg.StopTimeout.Duration, Logger: log, OpenTap: linux.OpenTap})
	if err != nil {
		return nil, err
	}
	vol, err := qcow2.New(filepath.Join(cfg.DataDir, "disks"), cfg.DiskCapacityMB)
	if err != nil {
		return nil, err
	}
	return finishQEMU(cfg, log, hv, vol)
}

// volumeDriver opens the disks of a configuration alone, for `berthd admin image import`:
// it must not touch the VMs a running berthd owns.
func volumeDriver(cfg config.Config) (volume.Driver, error) {
	if cfg.Backend == "sim" {
		return volfake.NewPersistent(0, simstate.File{Path: filepath.Join(cfg.DataDir, "sim", "disks.json")})
	}
	return qcow2.New(filepath.Join(cfg.DataDir, "disks"), cfg.DiskCapacityMB)
}

func finishQEMU(cfg config.Config, log *slog.Logger, hv *qemu.Driver, vol *qcow2.Driver) (*backend, error) {
	mem := cfg.MemoryCapacityMB
	if mem == 0 {
		total, err := agent.HostMemoryMB()
		if err != nil {
			return nil, err
		}
		mem = total - cfg.HostReserveMB
	}
	_, diskMB := vol.Used()
	log.Info("qemu backend", "accel", hv.Accel(), "memory_mb", mem, "disk_mb", diskMB)
	// Bridge MACs (the gateways') come from the datacenter, not from the namespace's prefix:
	// every host of a datacenter has the same gateway MAC. The default prefix keeps the MACs
	// single hosts always had.
	net := linux.NewWithGatewayKey(func(ns string) string {
		if ns == "" {
			return ""
		}
		return "berth-" + strings.TrimPrefix(ns, cfg.NetnsPrefix)
	})
	return &backend{hv: hv, vol: vol, net: net, seeder: seed.New(filepath.Join(cfg.DataDir, "seeds")),
		memMB: mem, diskMB: diskMB, overheadMB: qemuOverheadMB}, nil
}

// checkUnderlay refuses to start an overlay whose underlay cannot carry a guest's full
// frame (the real backend only: the sim backend has no underlay).
func (b *backend) checkUnderlay(cfg config.Config) error {
	if cfg.Backend != "qemu" {
		return nil
	}
	if _, err := linux.CheckUnderlay(cfg.UnderlayNetns, cfg.VTEPAddr); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// qemuOverheadMB is what a VM's QEMU process takes beyond its guest's memory under TCG
// (its code cache and itself; vm-backend.md measured about 100 MB).
const qemuOverheadMB = 128

// simBackend is the sandbox: fake drivers that keep their state in the data directory.
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
	return &backend{hv: hv, vol: vol, net: netfake.New(), memMB: 1 << 20, diskMB: 1 << 30}, nil
}

// simKernel is the sim backend's only kernel.
const simKernel = "sim-6.1-x86_64"

// imageCatalog returns the images to register and the kernels disks can boot with: the
// built images of images_dir, or the sim backend's synthetic one.
func imageCatalog(cfg config.Config) ([]imageFile, []service.Kernel, error) {
	firmware := []service.Kernel{{Name: "grub", Flavor: "linux-hvm"}, {Name: "raw", Flavor: "linux-hvm"}}
	if cfg.Backend == "sim" {
		const line = "root=/dev/vda console=ttyS0 rw"
		var images []imageFile
		for _, dc := range cfg.Datacenters {
			images = append(images, imageFile{file: "sim://tiny", spec: service.ImageSpec{Label: "Berth Tiny", DatacenterID: dc.ID,
				OSArch: "x86-64", System: "Berth", Version: "1", KernelVersion: simKernel, Cmdline: line, SizeMB: 3072}})
		}
		return images, append([]service.Kernel{{Name: simKernel, Flavor: "linux", Kernel: "sim://kernel", Cmdline: line}}, firmware...), nil
	}
	if cfg.ImagesDir == "" {
		return nil, firmware, nil
	}
	ms, err := image.LoadDir(cfg.ImagesDir)
	if err != nil {
		return nil, nil, fmt.Errorf("images: %w", err)
	}
	var images []imageFile
	var kernels []service.Kernel
	for _, m := range ms {
		// Each image's kernel boots it with its own initrd: one catalog entry per image.
		k := service.Kernel{Name: KernelName(m), Flavor: "linux", Kernel: m.Kernel, Initrd: m.Initrd, Cmdline: m.Cmdline}
		kernels = append(kernels, k)
		for _, dc := range cfg.Datacenters {
			images = append(images, imageFile{file: m.Disk, spec: service.ImageSpec{Label: m.Label, DatacenterID: dc.ID,
				OSArch: m.OSArch, System: m.System, Version: m.Version, KernelVersion: k.Name, Cmdline: m.Cmdline, SizeMB: m.SizeMB}})
		}
	}
	return images, append(kernels, firmware...), nil
}

// KernelName is the disk.list_kernels name of an image's kernel, e.g.
// "6.1.0-56-cloud-amd64 (tiny)".
func KernelName(m image.Manifest) string { return m.KernelVersion + " (" + m.Name + ")" }

func (d *Daemon) registerImages(ctx context.Context, images []imageFile) error {
	for _, im := range images {
		img, err := d.svc.RegisterImage(ctx, im.spec, func(id int64) (int64, error) { return d.be.vol.Import(ctx, id, im.file) })
		if err != nil {
			return err
		}
		// Every host keeps its own copy of every image.
		ok, err := d.be.vol.Exists(ctx, img.DiskID)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := d.be.vol.Import(ctx, img.DiskID, im.file); err != nil {
				return fmt.Errorf("import image %s: %w", im.spec.Label, err)
			}
		}
	}
	return nil
}

func datacenterID(cat *service.Catalog, s string) (int64, error) {
	for _, dc := range cat.Datacenters {
		if strings.EqualFold(dc.Code, s) || fmt.Sprint(dc.ID) == s {
			return dc.ID, nil
		}
	}
	return 0, fmt.Errorf("no datacenter %q", s)
}

// catalog builds the service catalog from the configuration and the kernels found.
func catalog(cfg config.Config, kernels []service.Kernel) *service.Catalog {
	c := &service.Catalog{Kernels: kernels}
	for _, d := range cfg.Datacenters {
		c.Datacenters = append(c.Datacenters, service.Datacenter{
			Datacenter: apiDatacenter(d), IPv4Pool: d.IPv4Pool, IPv4Gateway: d.IPv4Gateway, IPv6Prefix: d.IPv6Prefix,
		})
	}
	return c
}
